"""Built-in domains: number theory (gcd, lcm, modular arithmetic), combinatorics, probability."""

from __future__ import annotations

import random
from fractions import Fraction
from math import comb, factorial

from thinkscale.data.builtin.problem import Problem, Step, fmt, pick


def gen_number_theory(rng: random.Random, level: int) -> Problem:
    if level == 1:
        a, m = pick(rng, 10, 99), pick(rng, 3, 12)
        r = a % m
        q, params = f"What is the remainder when {a} is divided by {m}?", (a, m)
        steps = [Step(f"{m} * {a // m}", m * (a // m), "The largest multiple of " + f"{m} not above {a}: "),
                 Step(f"{a} - {m * (a // m)}", r)]  # fmt: skip
        check = f"{m} * {a // m} + {r} = {a}, and {r} < {m}. It matches."
    elif level in (2, 3):
        g = pick(rng, 2, 12)
        a, b = g * pick(rng, 2, 12), g * pick(rng, 2, 12)
        if a == b:
            b += g
        a, b = max(a, b), min(a, b)
        steps: list = ["I use the Euclidean algorithm."]
        x, y = a, b
        while y:
            steps.append(Step(f"{x} mod {y}", x % y))
            x, y = y, x % y
        g = x
        steps.append(f"The last nonzero remainder is {g}, so gcd({a}, {b}) = {g}.")
        if level == 2:
            q, params, r = f"What is the greatest common divisor of {a} and {b}?", (a, b), g
            check = f"{a} / {g} = {a // g} and {b} / {g} = {b // g}, which share no factor. It matches."
        else:
            r = a * b // g
            q, params = f"What is the least common multiple of {a} and {b}?", (a, b)
            steps += [Step(f"lcm = {a} * {b} / {g} = {a * b} / {g}", r)]
            check = f"{r} / {a} = {r // a} and {r} / {b} = {r // b}, both whole. It matches."
    else:
        a, k, m = pick(rng, 2, 9), pick(rng, 3, 6), pick(rng, 5, 13)
        q, params = f"What is the remainder when {a}^{k} is divided by {m}?", (a, k, m)
        steps, cur = [f"I multiply step by step, reducing mod {m} each time."], a % m
        steps.append(Step(f"{a} mod {m}", cur))
        for i in range(2, k + 1):
            nxt = cur * a % m
            steps.append(Step(f"{a}^{i} mod {m}: {cur} * {a} = {cur * a}, mod {m}", nxt))
            cur = nxt
        r = cur
        check = f"{a}^{k} = {a**k}, and {a**k} mod {m} = {a**k % m}. It matches."
    return Problem("number_theory", level, params, q, steps, r, check)


def gen_combinatorics(rng: random.Random, level: int) -> Problem:
    if level == 1:
        s, p, h = pick(rng, 2, 9), pick(rng, 2, 9), pick(rng, 1, 5)
        r = s * p * h
        q, params = (
            f"You have {s} shirts, {p} pants and {h} hats. How many outfits of one of each?",
            (s, p, h),
        )
        steps = [
            "Each choice is independent, so I multiply.",
            Step(f"{s} * {p}", s * p),
            Step(f"{s * p} * {h}", r),
        ]
        check = f"{p} * {h} = {p * h}, times {s} is {r}. It matches."
    elif level == 2:
        n, k, v = pick(rng, 4, 12), pick(rng, 2, 4), rng.randrange(3)
        r = factorial(n) // factorial(n - k)
        q = [f"In how many ways can {k} of {n} runners take first to {k}th place?",
             f"How many {k}-letter codes can be made from {n} different letters with no letter used twice?",
             f"In how many ways can {k} of {n} guests sit in a row of {k} chairs?"][v]  # fmt: skip
        params = (v, n, k)
        steps, run = ["Order matters: the first slot has n choices, then one fewer each time."], n
        for i in range(1, k):
            steps.append(Step(f"{run} * {n - i}", run * (n - i)))
            run *= n - i
        check = f"{n}!/{n - k}! = {factorial(n)} / {factorial(n - k)} = {r}. It matches."
    elif level == 3:
        n, k, v = pick(rng, 5, 16), pick(rng, 2, 4), rng.randrange(3)
        r = comb(n, k)
        q = [f"How many ways are there to choose {k} people from a group of {n}?",
             f"A pizza gets {k} different toppings out of {n}. How many topping choices are there?",
             f"How many {k}-element subsets does a set of {n} elements have?"][v]  # fmt: skip
        params = (v, n, k)
        top = factorial(n) // factorial(n - k)
        steps = ["Order does not matter, so I divide ordered choices by k!.",
                 Step(" * ".join(str(n - i) for i in range(k)), top, "Ordered: "),
                 Step(f"{k}!", factorial(k)), Step(f"{top} / {factorial(k)}", r)]  # fmt: skip
        check = f"by Pascal's rule C({n - 1}, {k - 1}) + C({n - 1}, {k}) = {comb(n - 1, k - 1)} + {comb(n - 1, k)} = {r}."
    else:
        m, w = pick(rng, 4, 9), pick(rng, 4, 9)
        a, b = pick(rng, 1, 3), pick(rng, 1, 3)
        r = comb(m, a) * comb(w, b)
        q = f"A committee has {a} of {m} teachers and {b} of {w} students. How many committees are possible?"
        params = (m, w, a, b)
        steps = [Step(f"Teachers: C({m}, {a})", comb(m, a)), Step(f"Students: C({w}, {b})", comb(w, b)),
                 Step(f"Both choices together: {comb(m, a)} * {comb(w, b)}", r)]  # fmt: skip
        check = f"{comb(w, b)} * {comb(m, a)} = {r}. It matches."
    return Problem("combinatorics", level, params, q, steps, r, check)


def gen_probability(rng: random.Random, level: int) -> Problem:
    red, blue = pick(rng, 1, 15), pick(rng, 1, 15)
    n = red + blue
    if level == 1:
        r = Fraction(red, n)
        q, params = (
            f"A bag has {red} red and {blue} blue marbles. What is the probability of drawing red?",
            (red, blue),
        )
        steps = [Step(f"Total marbles: {red} + {blue}", n), Step(f"P(red) = {red}/{n}", r)]
        check = f"P(blue) = {blue}/{n}, and {red}/{n} + {blue}/{n} = 1. It matches."
    elif level == 2:
        green = pick(rng, 1, 9)
        n += green
        r = Fraction(n - red, n)
        q = f"A bag has {red} red, {blue} blue and {green} green marbles. What is the probability of not drawing red?"
        params = (red, blue, green)
        steps = [Step(f"Total: {red} + {blue} + {green}", n), Step(f"Not red: {blue} + {green}", n - red),
                 Step(f"P = {n - red}/{n}", r)]  # fmt: skip
        check = f"1 - {red}/{n} = {fmt(r)}. It matches."
    elif level == 3:
        p = Fraction(red, n)
        r = p * p
        q = (f"A bag has {red} red and {blue} blue marbles. A marble is drawn, put back, and a second one is "
             "drawn. What is the probability both are red?")  # fmt: skip
        params = (red, blue)
        steps = [Step(f"One red draw: {red}/{n}", p), "The draws are independent, so I multiply.",
                 Step(f"{fmt(p)} * {fmt(p)}", r)]  # fmt: skip
        check = f"{red}^2 / {n}^2 = {red * red}/{n * n} = {fmt(r)}. It matches."
    else:
        red = max(red, 2)
        n = red + blue
        r = Fraction(red, n) * Fraction(red - 1, n - 1)
        q = (f"A bag has {red} red and {blue} blue marbles. Two are drawn without putting the first back. "
             "What is the probability both are red?")  # fmt: skip
        params = (red, blue)
        steps = [Step(f"First red: {red}/{n}", Fraction(red, n)),
                 Step(f"Then {red - 1} red of {n - 1} left: {red - 1}/{n - 1}", Fraction(red - 1, n - 1)),
                 Step(f"{fmt(Fraction(red, n))} * {fmt(Fraction(red - 1, n - 1))}", r)]  # fmt: skip
        check = f"C({red}, 2) / C({n}, 2) = {comb(red, 2)}/{comb(n, 2)} = {fmt(r)}. It matches."
    return Problem("probability", level, params, q, steps, r, check)
