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


#: A 0.05° grid over the bounding box: most cells are wholly inside or outside, so the
#: polygon test runs only for points in the cells the border crosses.
_CELL_DEG = 0.05
_ROWS = round((_LAT_MAX - _LAT_MIN) / _CELL_DEG) + 1
_COLS = round((_LNG_MAX - _LNG_MIN) / _CELL_DEG) + 1
_INSIDE, _OUTSIDE, _BORDER = 1, 2, 3


def in_mainland_china(lat: float, lng: float) -> bool:
    """Whether a point is in mainland China, where Chinese maps use GCJ-02 (see module doc)."""
    if not (_LAT_MIN <= lat <= _LAT_MAX and _LNG_MIN <= lng <= _LNG_MAX):
        return False
    state = _grid()[int((lat - _LAT_MIN) / _CELL_DEG) * _COLS + int((lng - _LNG_MIN) / _CELL_DEG)]
    if state == _BORDER:
        return bool(shapely.contains_xy(mainland_china(), lng, lat))
    return state == _INSIDE


@cache
def _grid() -> bytes:
    """Every cell's state, built at once (~0.5 s with the polygon): a cell holding a point
    of the border, densified to 0.01°, or next to one is a border cell; any other cell is
    wholly on the side of its centre, since the border cannot cross it without passing a
    sample point in it or in a neighbour."""
    area = mainland_china()
    rows, cols = np.divmod(np.arange(_ROWS * _COLS), _COLS)
    inside = shapely.contains_xy(area, _LNG_MIN + (cols + 0.5) * _CELL_DEG,
                                 _LAT_MIN + (rows + 0.5) * _CELL_DEG)
    grid = np.where(inside, _INSIDE, _OUTSIDE).astype(np.uint8).reshape(_ROWS, _COLS)
    border = shapely.get_coordinates(shapely.segmentize(shapely.boundary(area), 0.01))
    b_rows = np.floor((border[:, 1] - _LAT_MIN) / _CELL_DEG).astype(np.int64)
    b_cols = np.floor((border[:, 0] - _LNG_MIN) / _CELL_DEG).astype(np.int64)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            r, c = b_rows + d_row, b_cols + d_col
            keep = (r >= 0) & (r < _ROWS) & (c >= 0) & (c < _COLS)
            grid[r[keep], c[keep]] = _BORDER
    return grid.tobytes()


def prepare() -> None:
    """Build the polygon and the grid now (a server starting) rather than on a push."""
    _grid()


def in_mainland_china_array(lats: npt.ArrayLike, lngs: npt.ArrayLike) -> np.ndarray:
    """`in_mainland_china` over arrays (for bulk imports)."""
    return np.asarray(shapely.contains_xy(mainland_china(), np.asarray(lngs), np.asarray(lats)))
