"""Built-in domain: plane geometry (areas and perimeters of rectangles, triangles, trapezoids)."""

from __future__ import annotations

import random
from fractions import Fraction

from thinkscale.data.builtin.problem import Problem, Step, fmt, pick


def gen_geometry(rng: random.Random, level: int) -> Problem:
    if level == 1:
        w, h = pick(rng, 2, 20), pick(rng, 2, 20)
        r = w * h
        q, params = f"A rectangle is {w} cm wide and {h} cm tall. What is its area in square cm?", (w, h)
        steps = ["Area of a rectangle is width times height.", Step(f"{w} * {h}", r)]
        check = f"{r} / {w} = {h}. It matches."
    elif level == 2:
        w, area = pick(rng, 2, 15), 0
        h = pick(rng, 2, 15)
        area = w * h
        r = 2 * (w + h)
        q, params = f"A rectangle has area {area} and width {w}. What is its perimeter?", (w, area)
        steps = [Step(f"Height = {area} / {w}", h), Step(f"Perimeter = 2 * ({w} + {h}) = 2 * {w + h}", r)]
        check = f"{w} * {h} = {area}, and {w} + {h} + {w} + {h} = {r}. It matches."
    elif level == 3:
        b, h = pick(rng, 2, 24), pick(rng, 2, 24)
        r = Fraction(b * h, 2)
        q, params = f"A triangle has base {b} and height {h}. What is its area?", (b, h)
        steps = [
            "Area of a triangle is base times height over 2.",
            Step(f"{b} * {h}", b * h),
            Step(f"{b * h} / 2", r),
        ]
        check = f"a rectangle {b} by {h} has area {b * h}, and the triangle is half of it: {fmt(r)}."
    else:
        a, c, h = pick(rng, 2, 20), pick(rng, 2, 20), pick(rng, 2, 12)
        if a == c:
            c += 1
        r = Fraction((a + c) * h, 2)
        q, params = f"A trapezoid has parallel sides {a} and {c} and height {h}. What is its area?", (a, c, h)
        steps = ["Area of a trapezoid is the average of the parallel sides times the height.",
                 Step(f"{a} + {c}", a + c), Step(f"{a + c} * {h}", (a + c) * h), Step(f"{(a + c) * h} / 2", r)]  # fmt: skip
        check = f"the average side is {fmt(Fraction(a + c, 2))}, times {h} is {fmt(r)}. It matches."
    return Problem("geometry", level, params, q, steps, r, check)
