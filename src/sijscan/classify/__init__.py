"""sijscan.classify"""
