"""The example app in Streamlit's AppTest harness: what the fakes receive as a user clicks around."""

from __future__ import annotations

import threading

from st_harness import ExampleApp, no_errors

EXPLORE = "app_pages/explore.py"
SETTINGS = "app_pages/settings.py"
HOME = "app_pages/home.py"


def telemetry_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("telemetry-")]


class TestEachNavigationIsOnePageView:
    def test_reruns_of_one_page_send_a_single_page_view(self, example_app: ExampleApp) -> None:
        at = example_app.start()
        for _ in range(5):
            no_errors(at.run())

        assert example_app.page_paths() == ["/home"]
        assert example_app.page_paths("amplitude") == ["/home"]

    def test_every_navigation_counts_once_including_a_return_to_an_earlier_page(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())
        no_errors(at.run())
        no_errors(at.switch_page(SETTINGS).run())
        no_errors(at.switch_page(HOME).run())
        no_errors(at.run())

        assert example_app.page_paths() == ["/home", "/explore", "/settings", "/home"]
        assert example_app.page_paths("amplitude") == ["/home", "/explore", "/settings", "/home"]

    def test_widget_interactions_rerun_the_page_without_a_page_view(self, example_app: ExampleApp) -> None:
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())
        for value in (6.0, 7.0, 8.0):
            no_errors(at.slider(key="magnitude").set_value(value).run())

        assert example_app.page_paths() == ["/home", "/explore"]


class TestTabsAreInPageViews:
    def test_the_open_tab_is_part_of_the_page_view_and_each_switch_counts_once(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())
        for tab in ("Stations", "Stations", "Waveforms", "Events", "Events"):
            at.session_state["explore_tab"] = tab
            no_errors(at.run())
            no_errors(at.run())

        assert example_app.page_paths() == [
            "/home",
            "/explore",
            "/explore/stations",
            "/explore/waveforms",
            "/explore/events",
        ]

    def test_coming_back_to_the_page_counts_the_page_again_not_the_tab_it_opens_on(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())
        at.session_state["explore_tab"] = "Stations"
        no_errors(at.run())
        no_errors(at.switch_page(HOME).run())
        no_errors(at.switch_page(EXPLORE).run())
        no_errors(at.run())

        assert example_app.page_paths() == ["/home", "/explore", "/explore/stations", "/home", "/explore"]


class TestOneAnalyticsSessionPerBrowserSession:
    def test_every_event_of_a_browser_tab_shares_one_session_on_every_vendor(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.button(key="start_workflow").click().run())
        no_errors(at.switch_page(EXPLORE).run())
        at.session_state["explore_tab"] = "Waveforms"
        no_errors(at.run())
        no_errors(at.switch_page(SETTINGS).run())

        ga4 = example_app.received()
        amplitude = example_app.received(vendor="amplitude")
        assert len(ga4) == len(amplitude) == 5
        (ga4_session,) = {e.session_id for e in ga4}
        (amplitude_session,) = {e.session_id for e in amplitude}
        assert amplitude_session // 1000 == ga4_session  # one start time, in each vendor's unit
        assert {e.params["runtime"] for e in ga4} == {"streamlit"}

    def test_clearing_session_state_keeps_the_session_and_counts_no_page_view(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())
        no_errors(at.button(key="clear_state").click().run())
        no_errors(at.run())
        no_errors(at.switch_page(HOME).run())

        assert example_app.page_paths() == ["/home", "/explore", "/home"]
        assert len({e.session_id for e in example_app.received()}) == 1

    def test_a_new_browser_tab_gets_its_own_session(self, example_app: ExampleApp) -> None:
        example_app.start()
        example_app.forget_browser_sessions()
        example_app.start()

        views = example_app.received("page_view", vendor="amplitude")
        assert [e.params["page_path"] for e in views] == ["/home", "/home"]
        assert len({e.session_id for e in views}) == 2  # session starts in milliseconds
        assert len({e.client_id for e in views}) == 1  # one install, two visits

    def test_one_manager_serves_every_run_and_every_tab(self, example_app: ExampleApp) -> None:
        at = example_app.start()
        no_errors(at.button(key="start_workflow").click().run())
        example_app.received()  # the workers have started
        started = telemetry_threads()
        for page in (EXPLORE, SETTINGS, HOME):
            no_errors(at.switch_page(page).run())
        no_errors(at.switch_page(EXPLORE).run())
        no_errors(at.button(key="clear_state").click().run())
        example_app.forget_browser_sessions()
        example_app.start()
        example_app.received()

        assert sorted(t.name for t in started) == ["telemetry-Amplitude", "telemetry-GA4"]
        assert telemetry_threads() == started


class TestConsentBanner:
    def test_it_shows_until_answered_and_keep_dismisses_it_for_good(self, example_app: ExampleApp) -> None:
        example_app.save_settings(analytics_enabled=True, analytics_popup_dismissed=False)
        at = example_app.start()
        assert at.button(key="telemetry_consent_keep").label == "Keep analytics on"

        no_errors(at.button(key="telemetry_consent_keep").click().run())
        no_errors(at.switch_page(EXPLORE).run())

        assert not [b for b in at.button if b.key and b.key.startswith("telemetry_consent")]
        assert example_app.saved_settings()["analytics_popup_dismissed"] is True
        assert example_app.saved_settings()["analytics_enabled"] is True
        assert example_app.page_paths() == ["/home", "/explore"]
        example_app.forget_browser_sessions()
        assert not [b for b in example_app.start().button if b.key == "telemetry_consent_keep"]

    def test_disable_stops_every_event_at_once_and_is_saved(self, example_app: ExampleApp) -> None:
        example_app.save_settings(analytics_enabled=True, analytics_popup_dismissed=False)
        at = example_app.start()
        assert example_app.page_paths() == ["/home"]

        no_errors(at.button(key="telemetry_consent_disable").click().run())
        no_errors(at.button(key="start_workflow").click().run())
        no_errors(at.switch_page(EXPLORE).run())
        no_errors(at.switch_page(SETTINGS).run())

        assert example_app.received() == example_app.fake.events("ga4", "page_view")
        assert example_app.page_paths() == ["/home"]
        assert example_app.page_paths("amplitude") == ["/home"]
        assert example_app.saved_settings()["analytics_enabled"] is False
        assert not at.toggle(key="analytics_toggle").value

    def test_the_saved_no_holds_for_the_next_process(self, example_app: ExampleApp) -> None:
        example_app.save_settings(analytics_enabled=True, analytics_popup_dismissed=False)
        no_errors(example_app.start().button(key="telemetry_consent_disable").click().run())
        example_app.received()
        example_app.fake.clear()
        from telemetry.integrations.streamlit import shutdown_telemetry_client

        shutdown_telemetry_client(0.0)  # as if the app restarted
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())

        assert example_app.received() == []
        assert not [b for b in at.button if b.key == "telemetry_consent_keep"]

    def test_it_is_not_shown_and_nothing_is_stored_when_analytics_is_off(
        self, example_app: ExampleApp, tmp_path: object
    ) -> None:
        example_app.save_settings(analytics_enabled=False, analytics_popup_dismissed=False)
        at = example_app.start()
        no_errors(at.switch_page(EXPLORE).run())

        assert not [b for b in at.button if b.key == "telemetry_consent_keep"]
        assert example_app.received() == []
        assert not (example_app.settings_file.parent / "analytics.sqlite").exists()


class TestOptOutInSettings:
    def test_switching_analytics_off_sends_nothing_more_not_even_the_change(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        no_errors(at.switch_page(SETTINGS).run())
        assert example_app.page_paths() == ["/home", "/settings"]

        no_errors(at.toggle(key="analytics_toggle").set_value(False).run())
        no_errors(at.switch_page(HOME).run())
        no_errors(at.button(key="start_workflow").click().run())
        no_errors(at.button(key="download").click().run())

        assert example_app.page_paths() == ["/home", "/settings"]
        assert example_app.received("event") == []
        assert example_app.saved_settings()["analytics_enabled"] is False

    def test_switching_it_back_on_resumes_in_the_same_browser_session(self, example_app: ExampleApp) -> None:
        at = example_app.start()
        no_errors(at.switch_page(SETTINGS).run())
        example_app.received()
        no_errors(at.toggle(key="analytics_toggle").set_value(False).run())
        no_errors(at.switch_page(HOME).run())
        no_errors(at.switch_page(SETTINGS).run())
        no_errors(at.toggle(key="analytics_toggle").set_value(True).run())
        no_errors(at.switch_page(EXPLORE).run())

        assert example_app.page_paths() == ["/home", "/settings", "/explore"]
        assert len({e.session_id for e in example_app.received()}) == 1
        assert example_app.saved_settings()["analytics_enabled"] is True


class TestFunnelEvents:
    def test_a_download_is_sent_once_per_file_however_often_it_is_clicked(
        self, example_app: ExampleApp
    ) -> None:
        at = example_app.start()
        for _ in range(3):
            no_errors(at.button(key="download").click().run())
        assert at.info[0].value == "Already downloading this file"
        no_errors(at.selectbox(key="file_name").set_value("stations.xml").run())
        for _ in range(2):
            no_errors(at.button(key="download").click().run())

        downloads = [e for e in example_app.received("event") if e.name == "download_started"]
        assert [e.params["file"] for e in downloads] == ["events.csv", "stations.xml"]

    def test_a_workflow_start_is_sent_each_time_with_its_params(self, example_app: ExampleApp) -> None:
        at = example_app.start()
        no_errors(at.button(key="start_workflow").click().run())
        no_errors(at.selectbox(key="workflow").set_value("station_based").run())
        no_errors(at.button(key="start_workflow").click().run())

        for vendor in ("ga4", "amplitude"):
            started = example_app.received("event", vendor)
            assert [e.params["workflow_type"] for e in started] == ["event_based", "station_based"]
