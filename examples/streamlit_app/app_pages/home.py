"""Home: a workflow button (an event) and a download button (a funnel step sent once per file)."""

from __future__ import annotations

import streamlit as st

from telemetry.integrations.streamlit import track_event, track_event_once

st.title("Home")
st.write("Start a workflow, or download a file: each is one event in this browser session.")

workflow = st.selectbox("Workflow", ["event_based", "station_based"], key="workflow")
if st.button("Start workflow", key="start_workflow"):
    track_event("workflow_started", {"workflow_type": workflow})
    st.success(f"Started {workflow}")

file_name = st.selectbox("File", ["events.csv", "stations.xml"], key="file_name")
if st.button("Download", key="download"):
    sent = track_event_once("download_started", file_name, {"file": file_name})
    st.info("Download started" if sent else "Already downloading this file")
