"""AI Playground: the router. Run with `streamlit run app.py`.

Every page is listed explicitly in `ui.common.router` (`st.navigation` turns off Streamlit's automatic `pages/`
discovery); each page is a thin script over `ui` and `core`.
"""

import streamlit as st

from ui.common.router import route

st.set_page_config(page_title="AI Playground", page_icon=":material/science:", layout="wide")
route()
