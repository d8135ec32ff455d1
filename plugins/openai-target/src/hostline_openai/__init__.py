"""hostline_openai"""
