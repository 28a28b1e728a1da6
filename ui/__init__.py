"""Streamlit helpers shared by the pages: widgets built from config metadata, data sections, run views.

Pages stay thin by calling these; these stay thin by calling `core`. Only this package and `pages/` import
streamlit.
"""
