"""Team (hosted apps only): everyone's runs, read-only, to learn from and copy; limits, for admins."""

import streamlit as st

from core.messages import agree, counted, markdown_literal
from ui.common import auth, router, state
from ui.team import views as team_views

router.through_router()

st.title("Team")
me = auth.current_person()
if me is None:
    st.stop()
team = auth.team()
signed_in = len(team.members())
st.caption(f"{counted(signed_in, 'person', 'people')} {agree(signed_in, 'has', 'have')} signed in. You are "
           f"**{markdown_literal(me.name)}**"
           + (", an admin: you can stop any run and set the limits." if me.is_admin else "."))
team_views.render(me, team, state.workspace(), auth.settings())
