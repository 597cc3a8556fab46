"""Explore: stateful tabs (each switch is one page view of the tab) and a session-state reset."""

from __future__ import annotations

import streamlit as st

from telemetry.integrations.streamlit import track_page_view

st.title("Explore")

TABS = ("Events", "Stations", "Waveforms")
for label, tab in zip(TABS, st.tabs(TABS, key="explore_tab", on_change="rerun"), strict=True):
    with tab:
        if tab.open:
            track_page_view(f"/explore/{label.lower()}", f"Explore: {label}", key="explore-tab")
        st.write(f"{label} would be listed here.")

st.slider("Magnitude at least", 0.0, 9.0, 5.0, key="magnitude")  # every move is a rerun
if st.button("Clear session state", key="clear_state"):
    st.session_state.clear()  # what the original app did on every page switch: telemetry survives it
    st.rerun()
