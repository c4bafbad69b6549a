"""Writes the example data of the README's "Your own data" walk-through: a small bookshop's ratings,
catalog and customers, drawn from the built-in generator (training/synthetic.py) and written the way a
shop's export would look: its own ids, ISO-8601 times, and a few faults of the kind real exports have
(two ratings outside the 1-5 scale, a handful of ratings recorded twice).

    python examples/make_shop.py examples/shop
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from training.data.synthetic import SyntheticConfig, generate


def main(folder: Path) -> None:
    ratings, _ = generate(SyntheticConfig(n_users=400, n_items=150, mean_interactions=25.0,
                                          seed=7))
    users = {user: f"c{int(user[1:]):04d}" for user in ratings.users["user_id"]}
    items = {item: f"b{int(item[1:]):03d}" for item in ratings.items["item_id"]}
    frame = ratings.interactions.assign(user_id=lambda f: f["user_id"].map(users),
                                        item_id=lambda f: f["item_id"].map(items),
                                        rating=lambda f: f["rating"].astype(int))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    faults = frame.sample(8, random_state=1)
    faults.iloc[:2, faults.columns.get_loc("rating")] = [0, 50]
    frame = pd.concat([frame, faults]).sort_values("timestamp", kind="stable")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "ratings.csv", index=False)
    catalog = ratings.items.assign(item_id=lambda f: f["item_id"].map(items),
                                   genres=lambda f: f["genres"].map("|".join))
    catalog.to_csv(folder / "items.csv", index=False)
    # A column of the shop's own: any column of users.csv is a user feature.
    membership = pd.Series(["none", "none", "reader", "club"]).sample(len(ratings.users), replace=True, random_state=3)
    ratings.users.assign(user_id=lambda f: f["user_id"].map(users), age=lambda f: f["age"].astype(int),
                         membership=membership.to_numpy()).to_csv(folder / "users.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
