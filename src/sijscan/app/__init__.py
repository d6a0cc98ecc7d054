"""sijscan.app"""
