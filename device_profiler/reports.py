"""What a campaign (:func:`device_profiler.campaign.profile`) reports: an event after each
architecture for the progress display, each device's share and the totals at the end, and the
one-line error that stops a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from mnas_pred.errors import DeviceError
from mnas_pred.records import DeviceInfo, Measurement


@dataclass
class ProfileEvent:
    """What the progress callback of :func:`profile` receives after each architecture."""

    done: int  # architectures handled so far (measured, skipped or failed)
    total: int
    arch: str
    status: str  # "measured" | "skipped" (already in the store) | "failed" | "dropped" (a device left the run)
    measurement: Measurement | None = None
    error: str | None = None
    device: str = ""  # the device key of a measurement or a drop-out


@dataclass
class DeviceReport:
    """One device's share of a campaign."""

    device: DeviceInfo
    measured: int = 0
    failed_attempts: int = 0  # architectures this device gave back after its retries
    dropped: str | None = None  # the error that made it drop out; None if it lasted the run
    drift: list[dict] = field(default_factory=list)  # DriftCheck.history
    seconds_busy: float = 0.0


@dataclass
class CampaignReport:
    devices: list[DeviceReport]
    total: int = 0
    measured: int = 0
    skipped: int = 0
    failed: list[dict] = field(default_factory=list)  # {"arch", "error"}: failed on every device left
    seconds: float = 0.0

    @property
    def device(self) -> DeviceInfo:
        """The (first) device: the one of a single-device run."""
        return self.devices[0].device

    @property
    def drift(self) -> list[dict]:
        """The drift history of the (first) device."""
        return self.devices[0].drift

    @property
    def models_per_hour(self) -> float:
        return 3600.0 * self.measured / self.seconds if self.seconds > 0 and self.measured else 0.0


def stopped_error(error: DeviceError, total: int, measured: int, skipped: int, failed: int) -> DeviceError:
    """The error that stopped a run, with where the run stands and how to continue, in one line."""
    left = total - measured - skipped - failed
    return DeviceError(
        f"{error.problem}; stopped with {measured} of {total} models measured in this run, {skipped} already "
        f"stored, {failed} failed, {left} not tried",
        f"{error.fix + '; then ' if error.fix else ''}re-run the same command: it measures only what is missing",
        transient=error.transient)
