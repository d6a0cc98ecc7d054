"""sijscan.io"""
