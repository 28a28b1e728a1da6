"""Files shaped like the ones people really have, written here so tests never touch the network.

- `sms_collection()`: like the UCI SMS spam corpus's `SMSSpamCollection`: no extension, tab-separated, no header
  row, 87 % "ham", a few messages with a double quote that no quote closes (`ham<TAB>"Ok lar...`), which made a
  CSV reader join lines and lose rows, and a few exact duplicates.
- `news_csv()` and `CLASSES_TXT`: like AG News's `train.csv` and `classes.txt`: no header, every cell quoted, the
  class as a number 1–4, then a title and a description; the names one a line, in label order.
- `WINE_QUALITY_COUNTS`: the class sizes of the red wine quality table (UCI), two of them tiny.
"""

from __future__ import annotations

import random

import numpy as np

SMS_HAM_SHARE = 0.87
NEWS_CLASSES = ("World", "Sports", "Business", "Sci/Tech")
CLASSES_TXT = "\n".join(NEWS_CLASSES) + "\n"
WINE_QUALITY_COUNTS = {"3": 10, "4": 53, "5": 681, "6": 638, "7": 199, "8": 18}

HAM = ("Ok lar... Joking wif u oni", "Nah I don't think he goes to usf, he lives around here though",
       "U dun say so early hor... U c already then say...", "Even my brother is not like to speak with me",
       "I'm gonna be home soon and i don't want to talk about this stuff anymore tonight",
       "Is that seriously how you spell his name?", "What you doing? how are you?", "Sorry, I'll call later",
       "Ok... Take care. umma to you too...", "Are you coming home for dinner?", "Lol your always so convincing.",
       "I'll be there in ten minutes, wait for me at the station")
SPAM = ("WINNER!! As a valued network customer you have been selected to receive a £900 prize reward!",
        "Free entry in 2 a wkly comp to win FA Cup final tkts. Text FA to 87121 to receive entry",
        "URGENT! You have won a 1 week FREE membership in our £100,000 Prize Jackpot! Txt CLAIM to 81010",
        "SIX chances to win CASH! From 100 to 20,000 pounds txt CSH11 and send to 87575",
        "Had your mobile 11 months or more? U R entitled to Update to the latest colour mobiles with camera for Free!")
FIRST_MESSAGE = ("Go until jurong point, crazy.. Available only in bugis n great world la e buffet... Cine there got "
                 "amore wat...")


def sms_lines(rows: int = 600, seed: int = 0) -> list[tuple[str, str]]:
    """(label, message) lines: 87 % ham, the first one the corpus's own first line, every message different but for
    three exact duplicates, and two messages that open a double quote they never close."""
    rng = random.Random(seed)
    spam_rows = round(rows * (1 - SMS_HAM_SHARE))
    labels = ["spam"] * spam_rows + ["ham"] * (rows - spam_rows - 1)
    rng.shuffle(labels)
    lines = [("ham", FIRST_MESSAGE)]
    for number, label in enumerate(labels):
        base = rng.choice(SPAM if label == "spam" else HAM)
        lines.append((label, f"{base} ({number})"))
    lines[10] = ("ham", '"Ok lar... i\'ll be there soon')  # a quote opened, never closed
    lines[20] = ("ham", 'He said "sorry, bye')
    lines[30:33] = [lines[29]] * 3  # exact duplicates, as the real corpus has
    return lines


def sms_collection(rows: int = 600) -> bytes:
    return "".join(f"{label}\t{message}\n" for label, message in sms_lines(rows)).encode()


def news_rows(per_class: int = 60, seed: int = 0) -> list[tuple[int, str, str]]:
    """(class 1–4, title, description), each class with its own words, shuffled."""
    rng = random.Random(seed)
    topics = {1: ("minister", "election", "embassy", "ceasefire"), 2: ("striker", "league", "coach", "tournament"),
              3: ("shares", "profit", "merger", "investors"), 4: ("software", "chip", "researchers", "internet")}
    rows = []
    for label, words in topics.items():
        for number in range(per_class):
            first, second = rng.sample(words, 2)
            rows.append((label, f"{first.title()} and {second} in the news, story {number}",
                         f"Reuters - The {first} said on Tuesday that the {second} would matter, in report {number}."))
    rng.shuffle(rows)
    return rows


def news_csv(per_class: int = 60) -> bytes:
    """AG News's layout: no header, every cell in double quotes (titles and descriptions hold commas)."""
    return "".join(f'"{label}","{title}","{description}"\n'
                   for label, title, description in news_rows(per_class)).encode()


def auto_mpg_data(rows: int = 200, seed: int = 0) -> bytes:
    """Shaped like UCI's auto-mpg.data: no header, numbers lined up with runs of spaces, a tab and the car's name in
    double quotes at the end of each line, and "?" where the horsepower is not known (6 of its 398 rows)."""
    rng = np.random.default_rng(seed)
    lines = []
    for row in range(rows):
        cylinders = int(rng.choice([4, 6, 8]))
        weight = 1800 + cylinders * 300 + rng.normal(0, 200)
        horsepower = "?" if row % 33 == 5 else f"{40 + cylinders * 15 + rng.normal(0, 10):.1f}"
        mpg = 55 - weight / 100 + rng.normal(0, 2)
        name = f"{rng.choice(['ford', 'chevrolet', 'toyota', 'datsun'])} {rng.choice(['pinto', 'torino', 'corolla'])}"
        lines.append(f"{mpg:.1f}   {cylinders}   {cylinders * 40:.1f}      {horsepower:>5}      {weight:.0f}.      "
                     f"{rng.normal(15, 2):.1f}   {rng.integers(70, 83)}  {rng.integers(1, 4)}\t\"{name} {row}\"")
    return ("\n".join(lines) + "\n").encode()
