"""Settings: the analytics opt-out, effective at once and saved with the settings."""

from __future__ import annotations

import streamlit as st
from example_settings import load_settings

from telemetry.integrations.streamlit import set_analytics_enabled

st.title("Settings")


def _changed() -> None:
    set_analytics_enabled(bool(st.session_state["analytics_toggle"]))


st.toggle(
    "Share anonymous usage analytics",
    value=load_settings().analytics_enabled,
    key="analytics_toggle",
    on_change=_changed,
)
st.caption("Pages visited and features used, with a random install id. Nothing personal.")
