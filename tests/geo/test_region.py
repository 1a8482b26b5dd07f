"""The mainland-China rule: landmarks on both sides of every border that matters to a map app."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from o2o.geo.region import in_mainland_china, in_mainland_china_array, mainland_china

MAINLAND = {
    "Shenzhen Futian CBD": (22.5333, 114.0550),
    "Shenzhen Luohu station": (22.5316, 114.1170),
    "Shenzhen Huanggang port": (22.5250, 114.0750),
    "Shekou": (22.4850, 113.9150),
    "Yantian": (22.5700, 114.2700),
    "Zhuhai Gongbei": (22.2200, 113.5500),
    "Zhuhai Wanzai": (22.1950, 113.5200),
    "Hengqin": (22.1300, 113.5200),
    "Xiamen island east": (24.4500, 118.1900),
    "Xiamen Dadeng island": (24.5600, 118.3300),
    "Pingtan island": (25.5100, 119.7900),
    "Shanghai Bund": (31.2400, 121.4900),
    "Shengsi islands": (30.7300, 122.4600),
    "Zhoushan Putuo": (29.9900, 122.3800),
    "Weizhou island": (21.0400, 109.1200),
    "Sanya": (18.2500, 109.5100),
    "Sansha Yongxing island": (16.8350, 112.3350),
    "Kashgar": (39.4700, 75.9900),
    "Lhasa": (29.6500, 91.1400),
    "Mohe": (52.9700, 122.5400),
    "Fuyuan": (48.3600, 134.2900),
    "Erenhot": (43.6500, 111.9800),
}
ELSEWHERE = {
    "Hong Kong Lok Ma Chau": (22.5120, 114.0660),
    "Hong Kong Sheung Shui": (22.5015, 114.1280),
    "Hong Kong Central": (22.2800, 114.1588),
    "Hong Kong airport": (22.3080, 113.9180),
    "Hong Kong Tai O": (22.2500, 113.8600),
    "Macau Senado Square": (22.1935, 113.5397),
    "Macau Taipa": (22.1570, 113.5560),
    "Macau Cotai": (22.1450, 113.5650),
    "Taipei": (25.0330, 121.5650),
    "Kaohsiung": (22.6200, 120.3000),
    "Penghu": (23.5700, 119.5800),
    "Kinmen": (24.4300, 118.3200),
    "Matsu Nangan": (26.1600, 119.9500),
    "Blagoveshchensk": (50.2700, 127.5300),
    "Sinuiju": (40.1000, 124.4000),
    "Lao Cai": (22.4850, 103.9700),
    "Zamyn-Uud": (43.7200, 111.9000),
    "Ulaanbaatar": (47.9200, 106.9200),
    "Vladivostok": (43.1200, 131.8900),
    "Seoul": (37.5700, 126.9800),
    "Hanoi": (21.0300, 105.8500),
    "Almaty": (43.2400, 76.9000),
    "Tokyo": (35.6800, 139.7000),
    "Null Island": (0.0, 0.0),
}


@pytest.mark.parametrize("name", sorted(MAINLAND))
def test_mainland_landmarks(name: str) -> None:
    assert in_mainland_china(*MAINLAND[name])


@pytest.mark.parametrize("name", sorted(ELSEWHERE))
def test_landmarks_outside_mainland(name: str) -> None:
    assert not in_mainland_china(*ELSEWHERE[name])


def test_array_form_agrees_with_scalar() -> None:
    points = list(MAINLAND.values()) + list(ELSEWHERE.values())
    lats, lngs = np.array(points).T
    got = in_mainland_china_array(lats, lngs)
    assert got.tolist() == [True] * len(MAINLAND) + [False] * len(ELSEWHERE)


def test_grid_answer_is_the_polygon_test_everywhere_and_at_the_border() -> None:
    # Uniform over the grid's box, and jittered by up to ~1 km around points of the border
    # itself, where whole-cell answers would go wrong if a crossed cell were missed.
    rng = np.random.default_rng(7)
    lats = rng.uniform(15.0, 54.0, 60_000)
    lngs = rng.uniform(73.0, 136.0, 60_000)
    border = shapely.get_coordinates(shapely.boundary(mainland_china()))
    near = border[rng.integers(0, len(border), 60_000)] + rng.uniform(-0.01, 0.01, (60_000, 2))
    lats, lngs = np.concatenate([lats, near[:, 1]]), np.concatenate([lngs, near[:, 0]])
    expected = shapely.contains_xy(mainland_china(), lngs, lats)
    got = np.array([in_mainland_china(lat, lng) for lat, lng in zip(lats, lngs, strict=True)])
    assert (got == expected).all()
