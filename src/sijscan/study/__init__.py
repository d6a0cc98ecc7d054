"""sijscan.study"""
