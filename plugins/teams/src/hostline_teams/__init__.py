"""hostline_teams"""
