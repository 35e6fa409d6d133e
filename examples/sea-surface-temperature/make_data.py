"""Generate the synthetic monthly sea-surface-temperature dataset used by
``sst_analysis.ipynb``.

The numbers are made up, but built from the ingredients a real gridded SST
product shows, so that the notebook's analysis gives sensible answers:

* a mean state that is warm at the equator and near freezing at the poles,
  with a west-Pacific warm pool and an east-Pacific cold tongue;
* a seasonal cycle that is strongest in the mid-latitudes and has opposite
  phase in the two hemispheres;
* a warming trend of about 0.2 degC per decade (a bit more in the north);
* El Nino / La Nina events in the central and eastern equatorial Pacific,
  loosely following the 2014-2023 sequence;
* red (autocorrelated), spatially smooth weather noise;
* continents drawn as crude polygons and stored as missing values (NaN).

The script is deterministic (fixed random seed, no timestamps in the file),
so running it again rewrites the same data. Run it from anywhere::

    python make_data.py

and it writes ``data/sst_monthly.nc`` next to itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

SEED = 20240601
START = "2014-01"
N_YEARS = 10
RESOLUTION = 4.0  # degrees, for both latitude and longitude
FREEZING = -1.8  # degC, sea water freezes around here

OUT_FILE = Path(__file__).resolve().parent / "data" / "sst_monthly.nc"

# Very rough outlines of the land masses, as (longitude east, latitude) pairs
# with longitude in -180..180. They only need to look right on a 4 degree grid.
# fmt: off
CONTINENTS: dict[str, list[tuple[float, float]]] = {
    "north_america": [
        (-168, 66), (-140, 70), (-95, 72), (-80, 73), (-62, 60), (-56, 52),
        (-66, 45), (-76, 35), (-81, 31), (-80, 25), (-97, 26), (-97, 20),
        (-87, 21), (-83, 10), (-78, 8), (-80, 7), (-86, 12), (-92, 15),
        (-105, 20), (-110, 24), (-117, 32), (-124, 40), (-125, 49),
        (-135, 58), (-150, 60), (-165, 60),
    ],
    "greenland": [
        (-55, 60), (-45, 60), (-20, 70), (-18, 80), (-35, 83), (-65, 82),
        (-72, 77), (-55, 68),
    ],
    "south_america": [
        (-80, 8), (-72, 12), (-62, 10), (-50, 0), (-35, -5), (-39, -15),
        (-48, -26), (-58, -38), (-65, -42), (-68, -55), (-75, -50),
        (-73, -38), (-71, -18), (-81, -6),
    ],
    "africa": [
        (-17, 21), (-10, 30), (-5, 36), (10, 37), (32, 31), (35, 28),
        (43, 12), (51, 12), (40, -3), (40, -15), (35, -25), (20, -35),
        (18, -30), (12, -17), (13, -5), (9, 4), (-8, 4), (-17, 14),
    ],
    "eurasia": [
        (-9, 37), (-9, 43), (-2, 44), (-5, 48), (2, 51), (8, 54), (8, 57),
        (12, 56), (10, 59), (5, 58), (5, 62), (15, 68), (25, 71), (40, 67),
        (60, 70), (80, 73), (110, 77), (140, 72), (180, 69), (180, 65),
        (160, 60), (155, 58), (140, 55), (135, 43), (127, 40), (121, 30),
        (120, 23), (108, 20), (108, 15), (105, 10), (100, 13), (98, 8),
        (104, 1), (97, 6), (93, 18), (80, 15), (77, 8), (72, 20), (66, 25),
        (58, 25), (59, 22), (52, 16), (43, 12), (39, 21), (35, 28), (32, 31),
        (36, 36), (26, 38), (23, 37), (19, 40), (13, 45), (12, 44), (16, 40),
        (10, 44), (3, 43), (-2, 37),
    ],
    "great_britain": [(-6, 50), (2, 51), (0, 53), (-3, 58), (-6, 58), (-5, 54)],
    "australia": [
        (113, -22), (114, -34), (118, -35), (130, -32), (138, -35),
        (146, -39), (150, -37), (153, -28), (146, -19), (142, -11),
        (136, -12), (130, -12), (123, -17),
    ],
    "borneo": [(109, 1), (117, 7), (119, 1), (116, -4), (110, -3)],
    "new_guinea": [(131, -1), (141, -3), (150, -10), (141, -9), (137, -5)],
    "madagascar": [(44, -25), (47, -25), (50, -15), (49, -12), (44, -17)],
}
# fmt: on
ANTARCTIC_COAST = -72.0  # everything south of this latitude counts as land

# Rough El Nino (+) / La Nina (-) peaks: (month of peak, amplitude degC,
# half-width in months). The Nino-3.4 anomaly is the sum of these bumps.
ENSO_EVENTS = [
    ("2014-11", 0.6, 3.0),
    ("2015-12", 2.6, 4.5),
    ("2016-11", -0.7, 3.0),
    ("2017-12", -0.9, 3.0),
    ("2018-12", 0.8, 3.0),
    ("2019-04", 0.5, 2.5),
    ("2020-11", -1.3, 3.5),
    ("2021-12", -1.0, 3.0),
    ("2022-11", -1.0, 3.5),
    ("2023-11", 2.0, 4.0),
]


def grid(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre latitudes (south to north) and longitudes (0..360 east)."""
    lat = np.arange(-90 + resolution / 2, 90, resolution)
    lon = np.arange(resolution / 2, 360, resolution)
    return lat, lon


def inside_polygon(x: np.ndarray, y: np.ndarray, poly: list[tuple[float, float]]) -> np.ndarray:
    """Even-odd rule: True where point (x, y) lies inside the closed polygon."""
    inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    count = len(poly)
    for k in range(count):
        x1, y1 = poly[k]
        x2, y2 = poly[(k + 1) % count]
        if y1 == y2:
            continue  # a horizontal edge never crosses the horizontal ray
        straddles = (y1 > y) != (y2 > y)
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < x_cross)
    return inside


def land_mask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Boolean (lat, lon) array, True over land."""
    lon2d, lat2d = np.meshgrid(lon, lat)
    lon_pm = np.where(lon2d > 180, lon2d - 360, lon2d)  # polygons use -180..180
    land = lat2d < ANTARCTIC_COAST
    for outline in CONTINENTS.values():
        land |= inside_polygon(lon_pm, lat2d, outline)
    return land


def bump(lat2d, lon2d, lat0, lon0, lat_width, lon_width):
    """A smooth Gaussian blob centred at (lat0, lon0), peak value 1."""
    dlon = (lon2d - lon0 + 180) % 360 - 180  # shortest way round the globe
    return np.exp(-(((lat2d - lat0) / lat_width) ** 2) - (dlon / lon_width) ** 2)


def mean_state(lat2d: np.ndarray, lon2d: np.ndarray) -> np.ndarray:
    """Long-term mean SST (degC) before the seasonal cycle is added."""
    coslat = np.cos(np.deg2rad(lat2d))
    base = FREEZING + 30.0 * coslat**2
    warm_pool = 1.2 * bump(lat2d, lon2d, 0, 150, 12, 40)
    cold_tongue = -3.0 * bump(lat2d, lon2d, -1, 255, 5, 35)
    # cool coastal upwelling off California, Peru, Namibia and north-west Africa
    upwelling = -2.0 * (
        bump(lat2d, lon2d, 32, 235, 8, 8)
        + bump(lat2d, lon2d, -15, 282, 10, 8)
        + bump(lat2d, lon2d, -22, 10, 8, 8)
        + bump(lat2d, lon2d, 22, 342, 8, 8)
    )
    # the Gulf Stream and Kuroshio carry warm water north-east
    gulf_stream = bump(lat2d, lon2d, 40, 305, 6, 18)
    kuroshio = bump(lat2d, lon2d, 36, 150, 6, 18)
    western_boundary = 2.5 * (gulf_stream + kuroshio)
    return base + warm_pool + cold_tongue + upwelling + western_boundary


def seasonal_cycle(lat2d: np.ndarray, month_phase: np.ndarray) -> np.ndarray:
    """Seasonal anomaly (time, lat, lon): warmest in Aug (north) / Feb (south)."""
    amplitude = 0.4 + 4.5 * np.exp(-(((np.abs(lat2d) - 40) / 18) ** 2))
    hemisphere = np.tanh(lat2d / 10.0)
    return amplitude * hemisphere * np.cos(2 * np.pi * (month_phase[:, None, None] - 7.5) / 12)


def enso_index(times: pd.DatetimeIndex) -> np.ndarray:
    """Monthly Nino-3.4-like anomaly in degC built from ENSO_EVENTS."""
    months = (times.year - 2000) * 12 + times.month
    index = np.zeros(len(times))
    for peak, amplitude, width in ENSO_EVENTS:
        peak_ts = pd.Timestamp(peak)
        peak_month = (peak_ts.year - 2000) * 12 + peak_ts.month
        index += amplitude * np.exp(-(((months - peak_month) / width) ** 2))
    return index


def enso_pattern(lat2d: np.ndarray, lon2d: np.ndarray) -> np.ndarray:
    """Spatial footprint of a 1 degC Nino-3.4 anomaly (warm east, cool horseshoe)."""
    tongue = bump(lat2d, lon2d, 0, 225, 9, 40)
    horseshoe = -0.3 * (bump(lat2d, lon2d, 22, 170, 8, 30) + bump(lat2d, lon2d, -22, 170, 8, 30))
    pattern = tongue + horseshoe
    # scale so the Nino-3.4 box (5S-5N, 190-240E) averages exactly 1
    in_box = (np.abs(lat2d) <= 5) & (lon2d >= 190) & (lon2d <= 240)
    return pattern / pattern[in_box].mean()


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int, int], sd: float, rho: float) -> np.ndarray:
    """Red noise: AR(1) in time, smoothed a few times in space."""
    white = rng.standard_normal(shape)
    for _ in range(3):  # a 1-2-1 filter along latitude and (periodic) longitude
        white[:, 1:-1] = 0.25 * white[:, :-2] + 0.5 * white[:, 1:-1] + 0.25 * white[:, 2:]
        white = 0.25 * np.roll(white, 1, axis=2) + 0.5 * white + 0.25 * np.roll(white, -1, axis=2)
    white /= white.std()
    red = np.empty_like(white)
    red[0] = white[0]
    for t in range(1, shape[0]):
        red[t] = rho * red[t - 1] + np.sqrt(1 - rho**2) * white[t]
    return sd * red


def build_dataset() -> xr.Dataset:
    rng = np.random.default_rng(SEED)
    lat, lon = grid(RESOLUTION)
    lon2d, lat2d = np.meshgrid(lon, lat)
    # monthly means, stamped at mid-month as many SST products do
    months = pd.date_range(START, periods=12 * N_YEARS, freq="MS")
    times = months + pd.Timedelta(days=14)

    month_phase = months.month.to_numpy(dtype=float)
    years_since_start = (np.arange(len(times)) + 0.5) / 12.0
    trend_per_year = 0.018 + 0.008 * np.sin(np.deg2rad(lat2d))

    sst = (
        mean_state(lat2d, lon2d)[None]
        + seasonal_cycle(lat2d, month_phase)
        + trend_per_year[None] * (years_since_start[:, None, None] - N_YEARS / 2)
        + enso_index(months)[:, None, None] * enso_pattern(lat2d, lon2d)[None]
        + smooth_noise(rng, (len(times), lat.size, lon.size), sd=0.35, rho=0.6)
    )
    sst = np.maximum(sst, FREEZING)  # sea ice caps how cold the surface gets
    sst[:, land_mask(lat, lon)] = np.nan
    sst = sst.astype(np.float32)

    ds = xr.Dataset(
        data_vars={
            "sst": (
                ("time", "lat", "lon"),
                sst,
                {
                    "long_name": "Monthly mean sea surface temperature",
                    "standard_name": "sea_surface_temperature",
                    "units": "degC",
                    "cell_methods": "time: mean",
                    "valid_min": np.float32(-2.0),
                    "valid_max": np.float32(40.0),
                },
            )
        },
        coords={
            "time": ("time", times, {"long_name": "time", "standard_name": "time", "axis": "T"}),
            "lat": (
                "lat",
                lat,
                {
                    "long_name": "latitude",
                    "standard_name": "latitude",
                    "units": "degrees_north",
                    "axis": "Y",
                },
            ),
            "lon": (
                "lon",
                lon,
                {
                    "long_name": "longitude",
                    "standard_name": "longitude",
                    "units": "degrees_east",
                    "axis": "X",
                },
            ),
        },
        attrs={
            "title": "Synthetic monthly sea surface temperature, 2014-2023",
            "Conventions": "CF-1.8",
            "source": "make_data.py: latitude gradient + seasonal cycle + trend + ENSO + noise",
            "comment": "Synthetic data for the nbship example notebook; not real observations. "
            "Land (including Antarctica) is stored as missing values.",
            "geospatial_lat_resolution": f"{RESOLUTION} degree",
            "geospatial_lon_resolution": f"{RESOLUTION} degree",
        },
    )
    return ds


def write(ds: xr.Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {
        "sst": {
            "dtype": "float32",
            "zlib": True,
            "complevel": 6,
            "shuffle": True,
            "least_significant_digit": 2,  # keep 0.01 degC, lets zlib do its job
            "_FillValue": np.float32(-999.0),
        },
        "time": {
            "units": "days since 1850-01-01",
            "calendar": "standard",
            "dtype": "float64",
            "_FillValue": None,  # CF: coordinates have no missing values
        },
        "lat": {"dtype": "float32", "_FillValue": None},
        "lon": {"dtype": "float32", "_FillValue": None},
    }
    ds.to_netcdf(path, format="NETCDF4", engine="netcdf4", encoding=encoding)


def main() -> None:
    ds = build_dataset()
    write(ds, OUT_FILE)
    ocean = ds.sst.isel(time=0).notnull().mean().item()
    print(
        f"wrote {OUT_FILE} ({OUT_FILE.stat().st_size / 1024:.0f} KiB): "
        f"{ds.sizes['time']} months x {ds.sizes['lat']} lat x {ds.sizes['lon']} lon, "
        f"{ocean:.0%} ocean, SST {float(ds.sst.min()):.1f}..{float(ds.sst.max()):.1f} degC"
    )


if __name__ == "__main__":
    main()
