"""stocksbot"""
