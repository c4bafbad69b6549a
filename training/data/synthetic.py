"""Deterministic synthetic data with planted structure: the project's built-in default data set.

A fresh machine can train and serve offline on it, and the structure is strong enough that learned models
clearly beat popularity. The generative story, and the signal each feature carries:

* Taste space: every genre, occupation and age group has a random centroid in a ``latent_dim`` space.
* Items have 1..``max_genres_per_item`` genres. Their taste vector is the mean of their genres' centroids
  plus ``item_noise``, so genres predict who likes an item. Titles are 2-3 words, each taken with
  probability ``title_genre_word_prob`` from the word list of one of the item's genres ("Galaxy" is Sci-Fi),
  so title tokens carry genre signal too. A lognormal propensity (``popularity_sigma``) gives popularity a
  long tail.
* Users have an age (15-70), a gender and an occupation. Their taste is the occupation centroid plus the
  age-group centroid (both scaled by ``demographic_scale``) plus ``user_noise``: demographics predict taste
  and the user id refines it. Gender carries no signal.
* Ratings: each user rates ``min_interactions`` + lognormal many items (``mean_interactions`` on average),
  drawn without replacement with probability ∝ exp(affinity / ``choice_temperature``) × propensity, where
  affinity = user·item / sqrt(latent_dim). A rating is clip(round(``rating_mean`` + user bias + item bias
  + ``rating_affinity_scale`` × (affinity - mean affinity of the user's picks) + noise), 1, 5): ids, taste
  and features all predict it. Timestamps are uniform over ``span_days`` from ``start_timestamp`` and
  increase per user; their order carries no signal.
* Sessions are anonymous (not tied to the users above). Every item has ``n_successors`` fixed successors,
  drawn among its ``successor_pool`` nearest items in taste space in favour of popular ones. A session
  has an intent (a genre centroid plus noise). Its first click is a jump; each later click goes to a
  successor of the last item with probability ``p_successor``, to a successor of the item before it with
  ``p_second_order`` (a second-order effect that a last-item model cannot fully use; at the second click
  this share jumps too), and otherwise jumps to an item drawn ∝ exp(intent·item / ``intent_temperature``)
  × propensity**``session_popularity_exponent``. Clicks are ``min_click_gap``-``max_click_gap`` s apart.
  Measured at default size: next-item recall@20 of popularity 0.18, of first-order transition counts 0.71.
* Catalogs of millions: both draws above score every item, O(users x items) and O(items^2). With
  ``choice_pool`` a user chooses within a pool of items drawn ∝ propensity, and with ``neighbour_pool``
  the nearest items are looked for among random ones: about the same story at O(rows x pool).

Ids are ``u1``.., ``i1``.., ``s1``.. (sessions numbered in order of their start time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.config import config_dataclass
from training.data import dataset

GENRE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Action", ("Fury", "Strike", "Bullet", "Mission", "Edge", "Force", "Fist", "Chase")),
    ("Adventure", ("Quest", "Island", "Treasure", "Journey", "Lost", "Map", "Jungle", "Voyage")),
    ("Animation", ("Little", "Magic", "Toy", "Friends", "Bunny", "Dragon", "Puppy", "Balloon")),
    ("Comedy", ("Wedding", "Crazy", "Party", "Roommates", "Vacation", "Trouble", "Dad", "Oops")),
    ("Crime", ("Heist", "Gang", "Money", "Street", "Deal", "Witness", "Cartel", "Alibi")),
    ("Documentary", ("Planet", "Truth", "Inside", "Story", "Ocean", "Life", "Voices", "Wild")),
    ("Drama", ("Silence", "Letters", "Daughter", "River", "Promise", "Autumn", "Mother", "Home")),
    ("Fantasy", ("Kingdom", "Sword", "Wizard", "Crown", "Realm", "Spell", "Elf", "Throne")),
    ("Horror", ("Dark", "Blood", "Haunting", "Curse", "Night", "Scream", "Grave", "Cellar")),
    ("Romance", ("Love", "Heart", "Kiss", "Summer", "Forever", "Paris", "Bride", "Dance")),
    ("Sci-Fi", ("Galaxy", "Star", "Robot", "Orbit", "Signal", "Android", "Nebula", "Clone")),
    ("Thriller", ("Shadow", "Silent", "Trap", "Pursuit", "Code", "Target", "Stranger", "Fear")),
)
GENRES = tuple(genre for genre, _ in GENRE_WORDS)
# Words any genre may use, so titles are not a perfect genre lookup.
GENERIC_WORDS = ("Rising", "Return", "Last", "City", "Man", "Woman", "Day", "World", "Secret", "Road", "Game")
OCCUPATIONS = (
    "student", "engineer", "artist", "teacher", "doctor",
    "lawyer", "writer", "programmer", "retired", "salesman",
)  # fmt: skip
AGE_GROUP_BOUNDS = (25, 40, 55)  # ages below 25, 25-39, 40-54 and 55+ share a taste component
AGE_RANGE = (15, 70)


@config_dataclass
class SyntheticConfig:
    """Every knob of the generator; the defaults give ~40k ratings, 8k sessions and ~34k clicks in ~1 s.

    Sizes scale with ``n_users``, ``n_items`` and ``n_sessions``; a tiny config for tests is
    ``SyntheticConfig(n_users=60, n_items=50, n_sessions=300)`` (under 21 items, lower ``successor_pool``).
    """

    n_users: int = 1000  # users with ratings; sessions are anonymous and separate
    n_items: int = 800  # one catalogue shared by ratings and sessions
    n_sessions: int = 8000  # anonymous click sessions
    latent_dim: int = 8  # size of the shared taste space of genres, items, users and session intents
    max_genres_per_item: int = 3  # 1..max genres, fewer more likely (weights halve per extra genre)
    item_noise: float = 0.5  # std of an item's taste around its genres' mean centroid
    popularity_sigma: float = 1.4  # lognormal std of item propensity; larger = longer tail
    title_genre_word_prob: float = 0.8  # chance a title word comes from one of the item's genres
    demographic_scale: float = 1.0  # weight of the occupation and age-group centroids in user taste
    user_noise: float = 0.7  # std of the individual part of user taste
    min_interactions: int = 10  # ratings per user = min + lognormal, capped at n_items
    mean_interactions: float = 40.0  # mean ratings per user before the cap
    interactions_sigma: float = 0.8  # lognormal std of the part above the minimum
    choice_temperature: float = 0.7  # lower = users pick items closer to their taste
    rating_mean: float = 3.6  # before clipping to 1-5; gives a mode at 4 and mean ~3.57
    user_bias_std: float = 0.35  # harsh and generous raters
    item_bias_std: float = 0.35  # better and worse items, whatever the taste
    rating_affinity_scale: float = 0.8  # rating points per unit of affinity above the user's picks' mean
    rating_noise: float = 0.5  # std of the unpredictable part, before rounding
    # Users choose among this many items drawn with replacement ∝ propensity (repeats counted once), in
    # proportion to exp(affinity / choice_temperature): about the same story as the whole catalog (0) in
    # O(users x pool) instead of O(users x items), for catalogs of millions. A user rates at most the pool.
    choice_pool: int = 0
    n_successors: int = 4  # fixed successor items per item, the planted session transitions
    successor_pool: int = 20  # successors are drawn among this many nearest items in taste space
    # Nearest items are looked for among this many random ones per item (0: all, O(items^2)).
    neighbour_pool: int = 0
    p_successor: float = 0.6  # next click follows a successor of the last item
    p_second_order: float = 0.2  # next click follows a successor of the item before the last
    session_popularity_exponent: float = 0.5  # successors and jumps favour items ∝ propensity**exponent
    intent_noise: float = 0.5  # std of a session intent around its genre centroid
    intent_temperature: float = 0.5  # lower = jumps stay closer to the session intent
    min_session_length: int = 2  # clicks per session, at least 2 so every session has a next item
    max_session_length: int = 15
    session_length_p: float = 0.3  # length = min - 1 + geometric(p), capped: mostly short sessions
    min_click_gap: int = 10  # seconds between clicks of a session
    max_click_gap: int = 300  # uniform between the two
    start_timestamp: int = 1735689600  # 2025-01-01T00:00:00Z
    span_days: int = 365  # ratings and session starts are uniform over this period
    seed: int = 42  # the only source of randomness: same config, same frames

    def __post_init__(self) -> None:
        if not self.n_successors <= self.successor_pool < self.n_items:
            raise ValueError(f"need n_successors <= successor_pool < n_items: {self}")
        if not 2 <= self.min_session_length <= self.max_session_length:
            raise ValueError(f"need 2 <= min_session_length <= max_session_length: {self}")
        if not 1 <= self.min_interactions < self.mean_interactions:
            raise ValueError(f"need 1 <= min_interactions < mean_interactions: {self}")
        if self.p_successor + self.p_second_order > 1:
            raise ValueError(f"need p_successor + p_second_order <= 1: {self}")
        if self.choice_pool < 0 or 0 < self.neighbour_pool <= self.successor_pool:
            raise ValueError(f"need choice_pool >= 0 and neighbour_pool 0 or above successor_pool: {self}")


def generate(config: SyntheticConfig | None = None) -> tuple[dataset.RatingData, dataset.SessionData]:
    """Ratings with item and user features, and anonymous click sessions; same config, same frames."""
    config = config or SyntheticConfig()
    rng = np.random.default_rng(config.seed)
    genre_centroids = rng.normal(size=(len(GENRES), config.latent_dim))
    items, item_taste, log_propensity = _items(config, rng, genre_centroids)
    users, user_taste = _users(config, rng)
    interactions = _ratings(config, rng, user_taste, item_taste, log_propensity)
    clicks = _sessions(config, rng, genre_centroids, item_taste, log_propensity)
    ratings = dataset.RatingData("synthetic", interactions, items, users, rating_range=(1.0, 5.0))
    return ratings, dataset.SessionData("synthetic", clicks)


def _ids(prefix: str, indices: np.ndarray) -> list[str]:
    return [f"{prefix}{index + 1}" for index in indices.tolist()]


# The (rows, items) arrays of the ratings and the session jumps are made this many cells at a time, so the
# generator's memory stays bounded (~0.5 GB) whatever the number of users and sessions; the default sizes fit
# in one chunk.
CHUNK_CELLS = 2**24


def _row_chunks(n_rows: int, n_columns: int) -> list[slice]:
    step = max(1, CHUNK_CELLS // max(n_columns, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Per row, the indices of the k largest keys, largest first, ties to the lower index: what
    ``np.argsort(-keys, kind="stable")[:, :k]`` gives, without sorting whole rows."""
    if k < keys.shape[1]:
        candidates = np.sort(np.argpartition(-keys, k - 1, axis=1)[:, :k], axis=1)
    else:
        candidates = np.broadcast_to(np.arange(keys.shape[1]), keys.shape)
    order = np.argsort(-np.take_along_axis(keys, candidates, axis=1), axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def _top_k_without_replacement(log_weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of k draws without replacement ∝ exp(log_weights), per row, in draw order (Gumbel top-k)."""
    return _top_k(log_weights + rng.gumbel(size=log_weights.shape), k)


def _items(
    config: SyntheticConfig, rng: np.random.Generator, genre_centroids: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Item frame, taste vectors (items, dim) and log propensity (items,)."""
    genre_count_weights = 0.5 ** np.arange(config.max_genres_per_item)
    genre_counts = 1 + rng.choice(
        config.max_genres_per_item, size=config.n_items, p=genre_count_weights / genre_count_weights.sum()
    )
    titles, genre_lists = [], []
    taste = np.empty((config.n_items, config.latent_dim))
    for item, count in enumerate(genre_counts.tolist()):
        genres = np.sort(rng.choice(len(GENRES), size=count, replace=False))
        taste[item] = genre_centroids[genres].mean(axis=0)
        words = []
        for _ in range(rng.integers(2, 4)):
            from_genre = rng.random() < config.title_genre_word_prob
            vocabulary = GENRE_WORDS[rng.choice(genres)][1] if from_genre else GENERIC_WORDS
            words.append(vocabulary[rng.integers(len(vocabulary))])
        titles.append(" ".join(words))
        genre_lists.append([GENRES[genre] for genre in genres.tolist()])
    taste += rng.normal(scale=config.item_noise, size=taste.shape)
    log_propensity = rng.normal(scale=config.popularity_sigma, size=config.n_items)
    frame = pd.DataFrame(
        {"item_id": _ids("i", np.arange(config.n_items)), "title": titles, "genres": genre_lists},
        columns=dataset.ITEM_COLUMNS,
    )
    return frame, taste, log_propensity


def _users(config: SyntheticConfig, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """User frame and taste vectors (users, dim)."""
    occupation_centroids = rng.normal(size=(len(OCCUPATIONS), config.latent_dim))
    age_centroids = rng.normal(size=(len(AGE_GROUP_BOUNDS) + 1, config.latent_dim))
    ages = rng.integers(AGE_RANGE[0], AGE_RANGE[1] + 1, size=config.n_users)
    occupations = rng.integers(len(OCCUPATIONS), size=config.n_users)
    age_groups = np.searchsorted(AGE_GROUP_BOUNDS, ages, side="right")
    demographic = config.demographic_scale * (occupation_centroids[occupations] + age_centroids[age_groups])
    taste = demographic + rng.normal(scale=config.user_noise, size=demographic.shape)
    frame = pd.DataFrame(
        {
            "user_id": _ids("u", np.arange(config.n_users)),
            "age": ages.astype(float),
            "gender": rng.choice(["M", "F"], size=config.n_users),
            "occupation": np.array(OCCUPATIONS)[occupations],
        },
        columns=dataset.USER_COLUMNS,
    )
    return frame, taste


def _ratings(
    config: SyntheticConfig,
    rng: np.random.Generator,
    user_taste: np.ndarray,
    item_taste: np.ndarray,
    log_propensity: np.ndarray,
) -> pd.DataFrame:
    extra_mean = config.mean_interactions - config.min_interactions
    log_mean = np.log(extra_mean) - config.interactions_sigma**2 / 2  # so the lognormal mean is extra_mean
    extra = rng.lognormal(log_mean, config.interactions_sigma, size=config.n_users)
    counts = np.minimum(config.min_interactions + np.rint(extra).astype(int), config.n_items)
    propensity_cdf = np.cumsum(np.exp(log_propensity - log_propensity.max())) if config.choice_pool else None
    # Pools come from a stream of their own, so that chunks of any size give the same draws.
    pool_rng = np.random.default_rng(rng.integers(2**63)) if config.choice_pool else None
    users, items, picked = [], [], []
    for rows in _row_chunks(config.n_users, (config.choice_pool * config.latent_dim) or config.n_items):
        if propensity_cdf is None:  # every item is a candidate: (chunk users, items)
            pool = np.broadcast_to(np.arange(config.n_items), (rows.stop - rows.start, config.n_items))
            affinity = user_taste[rows] @ item_taste.T / np.sqrt(config.latent_dim)
            log_weights = affinity / config.choice_temperature + log_propensity
        else:  # (chunk users, choice_pool): the propensity is in the draw, a repeat is never chosen
            uniforms = pool_rng.random((rows.stop - rows.start, config.choice_pool)) * propensity_cdf[-1]
            pool = np.sort(np.minimum(np.searchsorted(propensity_cdf, uniforms, side="right"), config.n_items - 1))
            affinity = np.einsum("ud,upd->up", user_taste[rows], item_taste[pool]) / np.sqrt(config.latent_dim)
            repeat = np.zeros(pool.shape, dtype=bool)
            repeat[:, 1:] = pool[:, 1:] == pool[:, :-1]
            log_weights = np.where(repeat, -np.inf, affinity / config.choice_temperature)
            counts[rows] = np.minimum(counts[rows], (~repeat).sum(axis=1))
        chosen = _top_k_without_replacement(log_weights, int(counts[rows].max()), rng)
        taken = np.arange(chosen.shape[1]) < counts[rows, None]
        chunk_users = np.nonzero(taken)[0]
        users.append(chunk_users + rows.start)
        items.append(pool[chunk_users, chosen[taken]])
        picked.append(affinity[chunk_users, chosen[taken]])
    users, items, picked = np.concatenate(users), np.concatenate(items), np.concatenate(picked)

    # Centred on the user's own picks, so rating_mean stays the mean rating whatever the choice temperature:
    # a rating says how much an item beats the user's other picks.
    centred = picked - (np.bincount(users, picked, minlength=config.n_users) / counts)[users]
    user_bias = rng.normal(scale=config.user_bias_std, size=config.n_users)
    item_bias = rng.normal(scale=config.item_bias_std, size=config.n_items)
    noise = rng.normal(scale=config.rating_noise, size=len(users))
    raw = config.rating_mean + user_bias[users] + item_bias[items] + config.rating_affinity_scale * centred
    ratings = np.clip(np.rint(raw + noise), 1.0, 5.0)

    offsets = rng.integers(0, config.span_days * 86400, size=len(users))
    order = np.lexsort((offsets, users))
    users, items, ratings, offsets = users[order], items[order], ratings[order], offsets[order]
    # Adding the rank within the user makes times strictly increasing even when two draws share a second.
    rank = np.arange(len(users)) - np.searchsorted(users, users)
    return pd.DataFrame(
        {
            "user_id": _ids("u", users),
            "item_id": _ids("i", items),
            "rating": ratings,
            "timestamp": (config.start_timestamp + offsets + rank).astype(np.int64),
        },
        columns=dataset.INTERACTION_COLUMNS,
    )


def _successors(
    config: SyntheticConfig, rng: np.random.Generator, item_taste: np.ndarray, log_propensity: np.ndarray
) -> np.ndarray:
    """(items, n_successors): each item's fixed next items, near it in taste space, favouring popular ones."""
    unit = item_taste / np.linalg.norm(item_taste, axis=1, keepdims=True)
    pool = np.empty((config.n_items, config.successor_pool), dtype=np.int64)  # nearest items, nearest first
    for rows in _row_chunks(config.n_items, (config.neighbour_pool * config.latent_dim) or config.n_items):
        own = np.arange(rows.start, rows.stop)[:, None]
        if config.neighbour_pool:  # (chunk items, neighbour_pool) random candidates; repeats never chosen
            candidates = np.sort(rng.integers(config.n_items, size=(len(own), config.neighbour_pool)), axis=1)
            similarity = np.einsum("id,icd->ic", unit[rows], unit[candidates])
            similarity[:, 1:][candidates[:, 1:] == candidates[:, :-1]] = -np.inf
        else:
            candidates = np.broadcast_to(np.arange(config.n_items), (len(own), config.n_items))
            similarity = unit[rows] @ unit.T
        similarity[candidates == own] = -np.inf
        pool[rows] = np.take_along_axis(candidates, _top_k(similarity, config.successor_pool), axis=1)
    log_weights = config.session_popularity_exponent * log_propensity[pool]
    return np.take_along_axis(pool, _top_k_without_replacement(log_weights, config.n_successors, rng), axis=1)


def _inverse_cdf(log_weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """(rows, draws) indices drawn with replacement ∝ exp(log_weights) of each row, one per uniform in
    [0, 1). Offsetting row r's CDF by r makes all rows one sorted array, so a single searchsorted serves them all.
    """
    cdf = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    np.cumsum(cdf, axis=1, out=cdf)
    cdf /= cdf[:, -1:].copy()  # the last entry becomes exactly 1.0
    rows = np.arange(len(cdf))[:, None]
    cdf += rows
    flat = np.searchsorted(cdf.ravel(), (uniforms + rows).ravel(), side="right")
    return flat.reshape(uniforms.shape) - rows * cdf.shape[1]


def _sessions(
    config: SyntheticConfig,
    rng: np.random.Generator,
    genre_centroids: np.ndarray,
    item_taste: np.ndarray,
    log_propensity: np.ndarray,
) -> pd.DataFrame:
    n_sessions, max_length = config.n_sessions, config.max_session_length
    successors = _successors(config, rng, item_taste, log_propensity)
    intents = genre_centroids[rng.integers(len(GENRES), size=n_sessions)]
    intents = intents + rng.normal(scale=config.intent_noise, size=intents.shape)
    uniforms = rng.random((n_sessions, max_length))
    jumps = np.empty((n_sessions, max_length), dtype=np.int64)  # items drawn ∝ exp(intent·item) × propensity**e
    scaled_items = item_taste.T / (np.sqrt(config.latent_dim) * config.intent_temperature)
    for rows in _row_chunks(n_sessions, config.n_items):
        jump_logits = intents[rows] @ scaled_items + config.session_popularity_exponent * log_propensity
        jumps[rows] = _inverse_cdf(jump_logits, uniforms[rows])

    # Every session is walked to max_length and cut to its length below: simpler than ragged steps.
    roll = rng.random((n_sessions, max_length))
    choice = rng.integers(config.n_successors, size=(n_sessions, max_length))
    items = jumps.copy()  # (sessions, max_length); positions that follow no successor stay jumps
    p_follow = config.p_successor + config.p_second_order
    for step in range(1, max_length):
        last = roll[:, step] < config.p_successor  # follow the last item
        before = ~last & (roll[:, step] < p_follow) & (step >= 2)  # follow the item before the last
        items[last, step] = successors[items[last, step - 1], choice[last, step]]
        items[before, step] = successors[items[before, step - 2], choice[before, step]]

    lengths = np.minimum(
        config.min_session_length - 1 + rng.geometric(config.session_length_p, size=n_sessions), max_length
    )
    starts = np.sort(rng.integers(0, config.span_days * 86400, size=n_sessions)) + config.start_timestamp
    gaps = rng.integers(config.min_click_gap, config.max_click_gap + 1, size=(n_sessions, max_length))
    gaps[:, 0] = 0
    times = starts[:, None] + np.cumsum(gaps, axis=1)
    kept = np.arange(max_length) < lengths[:, None]
    return pd.DataFrame(
        {
            "session_id": _ids("s", np.nonzero(kept)[0]),
            "item_id": _ids("i", items[kept]),
            "timestamp": times[kept].astype(float),
        },
        columns=dataset.CLICK_COLUMNS,
    )
