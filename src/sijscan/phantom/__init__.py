"""sijscan.phantom"""
