"""AI Playground: the router. Run with `streamlit run app.py`.

Every page is listed explicitly (`st.navigation` turns off Streamlit's automatic `pages/` discovery); each page is a
thin script over `ui` and `core`.
"""

import streamlit as st

st.set_page_config(page_title="AI Playground", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Start", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("pages/playground.py", title="Playground", icon=":material/touch_app:"),
]

st.navigation(PAGES).run()
