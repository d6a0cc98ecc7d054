"""sijscan.evaluate"""
