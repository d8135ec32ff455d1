"""hostline_agent_framework"""
