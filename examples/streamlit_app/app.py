"""A small multipage Streamlit app with telemetry: `make demo-streamlit` runs it against the fakes.

The three telemetry lines are the import, `init_telemetry_client` and `track_page_view`; the
consent banner and the opt-out toggle (Settings page) are the rest of the integration.
"""

from __future__ import annotations

import streamlit as st
from example_settings import db_path, load_settings, save_settings

from telemetry.integrations.streamlit import consent_banner, init_telemetry_client, track_page_view

st.set_page_config(page_title="Telemetry example", page_icon=":bar_chart:")

init_telemetry_client(load_settings(), db_path(), save_settings=save_settings)

page = st.navigation(
    [
        st.Page("app_pages/home.py", title="Home", url_path="home", default=True),
        st.Page("app_pages/explore.py", title="Explore", url_path="explore"),
        st.Page("app_pages/settings.py", title="Settings", url_path="settings"),
    ]
)
consent_banner()
track_page_view(f"/{page.url_path or 'home'}", page.title)
page.run()
