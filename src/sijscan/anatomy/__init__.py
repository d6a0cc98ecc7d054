"""sijscan.anatomy"""
