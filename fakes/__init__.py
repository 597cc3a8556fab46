"""Fake GA4, Amplitude and Mixpanel ingestion backends for offline tests."""

from __future__ import annotations
