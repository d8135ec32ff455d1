"""hostline_telegram"""
