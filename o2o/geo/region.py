"""Where the GCJ-02 offset applies: mainland China, without Hong Kong, Macau and Taiwan.

The rule, in order:

1. Inside `mainland_china.json`: Natural Earth's 1:50m China polygon (public domain) grown
   0.3° (~30 km) out to sea so coastal shops, piers and offshore island counties count, minus the
   land of every neighbouring country, so land borders stay where the 1:50m data puts them
   (good to ~1–3 km; twin border towns such as Heihe/Blagoveshchensk may fall either way).
2. Plus the Paracel Islands (Sansha) and two island groups farther out than that margin
   (Shengsi, Weizhou): all offset on Chinese maps.
3. Minus the areas drawn below for Hong Kong, Macau, Taiwan with Penghu, Kinmen and Matsu:
   Chinese map apps show those in WGS-84. The Hong Kong and Macau land borders are traced
   through border crossings (Lok Ma Chau, Lo Wu, Man Kam To, Heung Yuen Wai, Sha Tau Kok;
   Portas do Cerco, the Lotus Bridge) and are good to a few hundred metres, not to the metre.

Either datum may be tested: the GCJ-02 offset (< 1 km) is below the rule's own precision.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon, box, shape

# (lng, lat) vertices, clockwise from the south-west; comments name what a stretch follows.
HONG_KONG = Polygon([
    (113.82, 22.14), (113.83, 22.42),  # west of Lantau and Sha Chau, east of Neilingding
    (113.93, 22.46), (113.97, 22.495), (114.01, 22.51),  # Deep Bay, south of Shekou
    (114.035, 22.515), (114.06, 22.514), (114.075, 22.519),  # Shenzhen River: Futian, Huanggang
    (114.09, 22.522), (114.105, 22.526), (114.113, 22.528), (114.120, 22.529),  # Lo Wu
    (114.128, 22.535), (114.145, 22.549), (114.158, 22.560),  # Man Kam To, Heung Yuen Wai
    (114.18, 22.557), (114.205, 22.552), (114.222, 22.545), (114.235, 22.541),  # Sha Tau Kok
    (114.26, 22.545), (114.35, 22.52), (114.40, 22.45),  # Mirs Bay, west of Dapeng
    (114.45, 22.35), (114.50, 22.14),
])  # fmt: skip
MACAU = Polygon([
    (113.527, 22.216), (113.552, 22.2165), (113.575, 22.2165),  # Portas do Cerco / Gongbei
    (113.575, 22.205), (113.61, 22.205), (113.61, 22.10), (113.545, 22.10),
    (113.535, 22.125), (113.545, 22.14), (113.549, 22.16),  # Cotai / Hengqin channel
    (113.545, 22.175), (113.528, 22.185),  # Inner Harbour, Wanzai across the water
])  # fmt: skip
TAIWAN = shapely.union_all([
    Polygon([(119.25, 21.75), (119.25, 24.0), (119.9, 24.0), (121.2, 25.35), (122.2, 25.35),
             (122.2, 21.75)]),  # the island, Penghu, Green and Orchid islands
    box(118.215, 24.37, 118.50, 24.52),  # Kinmen and Lieyu, south of Xiamen's Dadeng
    box(119.89, 26.13, 120.03, 26.25),  # Matsu: Nangan, Beigan
    box(119.91, 25.93, 120.00, 25.99),  # Matsu: Juguang
    box(120.46, 26.34, 120.53, 26.40),  # Matsu: Dongyin
])  # fmt: skip
PARACELS = box(111.1, 15.7, 112.9, 17.2)
FAR_ISLANDS = shapely.union_all([
    box(122.1, 30.5, 122.9, 30.95),  # Shengsi, beyond the 30 km margin off Shanghai
    box(109.0, 20.85, 109.25, 21.1),  # Weizhou and Xieyang, off Beihai
])  # fmt: skip

_DATA = Path(__file__).with_name("mainland_china.json")


@cache
def mainland_china() -> shapely.Geometry:
    """The area where GCJ-02 applies, as a prepared shapely geometry in (lng, lat)."""
    coarse = shape(json.loads(_DATA.read_text(encoding="utf-8")))
    area = shapely.union_all([coarse, PARACELS, FAR_ISLANDS])
    area = shapely.difference(area, shapely.union_all([HONG_KONG, MACAU, TAIWAN]))
    shapely.prepare(area)
    return area


_LAT_MIN, _LAT_MAX, _LNG_MIN, _LNG_MAX = 15.0, 54.0, 73.0, 136.0


#: Grid cells (0.05°) whose answer is known for every point inside: a cell is decided the
#: first time a point falls in it, so the polygon test runs only near the border.
_CELL_DEG = 0.05
_ROWS = round((_LAT_MAX - _LAT_MIN) / _CELL_DEG) + 1
_COLS = round((_LNG_MAX - _LNG_MIN) / _CELL_DEG) + 1
_UNKNOWN, _INSIDE, _OUTSIDE, _BORDER = 0, 1, 2, 3
_cells = bytearray(_ROWS * _COLS)


def in_mainland_china(lat: float, lng: float) -> bool:
    """Whether a point is in mainland China, where Chinese maps use GCJ-02 (see module doc)."""
    if not (_LAT_MIN <= lat <= _LAT_MAX and _LNG_MIN <= lng <= _LNG_MAX):
        return False
    row, col = int((lat - _LAT_MIN) / _CELL_DEG), int((lng - _LNG_MIN) / _CELL_DEG)
    cell = row * _COLS + col
    state = _cells[cell]
    if state == _UNKNOWN:
        state = _cells[cell] = _classify(row, col)
    if state == _BORDER:
        return bool(shapely.contains_xy(mainland_china(), lng, lat))
    return state == _INSIDE


def _classify(row: int, col: int) -> int:
    """Whether a whole grid cell (closed box) is inside, outside or on the border."""
    lat0, lng0 = _LAT_MIN + row * _CELL_DEG, _LNG_MIN + col * _CELL_DEG
    cell = box(lng0, lat0, lng0 + _CELL_DEG, lat0 + _CELL_DEG)
    area = mainland_china()
    if shapely.contains_properly(area, cell):
        return _INSIDE
    if not shapely.intersects(area, cell):
        return _OUTSIDE
    return _BORDER


def in_mainland_china_array(lats: npt.ArrayLike, lngs: npt.ArrayLike) -> np.ndarray:
    """`in_mainland_china` over arrays (for bulk imports)."""
    return np.asarray(shapely.contains_xy(mainland_china(), np.asarray(lngs), np.asarray(lats)))
