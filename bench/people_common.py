"""What the people benches share: a throw-away Kartoteka (data dir, keys, agent, migrated database) and a
deterministic generator of synthetic Russian names with a realistic frequency skew.

Everything here is synthetic: stems are common Russian name parts, combined at random.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import tempfile
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

MALE = (
    ("Александр", "Александрович", "Александровна"), ("Сергей", "Сергеевич", "Сергеевна"),
    ("Дмитрий", "Дмитриевич", "Дмитриевна"), ("Андрей", "Андреевич", "Андреевна"),
    ("Алексей", "Алексеевич", "Алексеевна"), ("Максим", "Максимович", "Максимовна"),
    ("Евгений", "Евгеньевич", "Евгеньевна"), ("Иван", "Иванович", "Ивановна"),
    ("Михаил", "Михайлович", "Михайловна"), ("Артём", "Артёмович", "Артёмовна"),
    ("Николай", "Николаевич", "Николаевна"), ("Владимир", "Владимирович", "Владимировна"),
    ("Денис", "Денисович", "Денисовна"), ("Павел", "Павлович", "Павловна"),
    ("Роман", "Романович", "Романовна"), ("Игорь", "Игоревич", "Игоревна"),
    ("Олег", "Олегович", "Олеговна"), ("Виктор", "Викторович", "Викторовна"),
    ("Юрий", "Юрьевич", "Юрьевна"), ("Антон", "Антонович", "Антоновна"),
    ("Владислав", "Владиславович", "Владиславовна"), ("Кирилл", "Кириллович", "Кирилловна"),
    ("Илья", "Ильич", "Ильинична"), ("Никита", "Никитич", "Никитична"),
    ("Вадим", "Вадимович", "Вадимовна"), ("Василий", "Васильевич", "Васильевна"),
    ("Константин", "Константинович", "Константиновна"), ("Анатолий", "Анатольевич", "Анатольевна"),
    ("Виталий", "Витальевич", "Витальевна"), ("Григорий", "Григорьевич", "Григорьевна"),
    ("Пётр", "Петрович", "Петровна"), ("Валерий", "Валерьевич", "Валерьевна"),
    ("Геннадий", "Геннадьевич", "Геннадьевна"), ("Борис", "Борисович", "Борисовна"),
    ("Степан", "Степанович", "Степановна"), ("Леонид", "Леонидович", "Леонидовна"),
    ("Фёдор", "Фёдорович", "Фёдоровна"), ("Тимур", "Тимурович", "Тимуровна"),
    ("Руслан", "Русланович", "Руслановна"), ("Егор", "Егорович", "Егоровна"),
    ("Станислав", "Станиславович", "Станиславовна"), ("Вячеслав", "Вячеславович", "Вячеславовна"),
    ("Ярослав", "Ярославович", "Ярославовна"), ("Аркадий", "Аркадьевич", "Аркадьевна"),
    ("Эдуард", "Эдуардович", "Эдуардовна"), ("Семён", "Семёнович", "Семёновна"),
    ("Георгий", "Георгиевич", "Георгиевна"), ("Глеб", "Глебович", "Глебовна"),
)  # fmt: skip
FEMALE = (
    "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Анна", "Мария", "Екатерина",
    "Юлия", "Анастасия", "Марина", "Людмила", "Галина", "Надежда", "Валентина", "Оксана", "Вера",
    "Любовь", "Дарья", "Ксения", "Алла", "Лариса", "Нина", "Полина", "Виктория", "Евгения", "Алина",
    "Кристина", "Софья", "Тамара", "Зоя", "Лидия", "Раиса", "Жанна",
)  # fmt: skip
ROOTS = (
    "Иван", "Смирн", "Кузнец", "Попов", "Васил", "Петр", "Соколов", "Михайл", "Новик", "Фёдор",
    "Морозов", "Волков", "Алексе", "Лебеде", "Семён", "Егор", "Павл", "Козл", "Степан", "Николае",
    "Орл", "Андре", "Макар", "Никит", "Захар", "Зайц", "Солов", "Борис", "Яковл", "Григор", "Роман",
    "Воробь", "Серге", "Кузьм", "Фрол", "Александр", "Дмитри", "Корол", "Гусе", "Кисел", "Ильин",
    "Максим", "Поляк", "Сорокин", "Виноград", "Ковал", "Белов", "Медвед", "Антон", "Тарас", "Жук",
    "Баран", "Филипп", "Комар", "Давыд", "Беляк", "Гераси", "Богдан", "Осип", "Сидор", "Матве",
    "Титов", "Марк", "Мирон", "Крыл", "Куликов", "Карп", "Власов", "Мельник", "Денис", "Гаврил",
    "Тихон", "Казак", "Афанас", "Данил", "Савел", "Тимофе", "Фомин", "Чернов", "Абрам", "Марты",
    "Ефим", "Федот", "Щербак", "Назар", "Калинин", "Исаев", "Тимур", "Блин", "Шаров", "Субботин",
    "Пестов", "Быков", "Рыбак", "Гордеев", "Ершов", "Панов", "Лукин", "Дьячк", "Журавл", "Носков",
)  # fmt: skip
SUFFIXES = (("ов", "ова"), ("ин", "ина"), ("енко", "енко"), ("ский", "ская"))


def _surnames() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i, root in enumerate(ROOTS):
        if root.endswith(("ов", "ев", "ин")):
            out.append((root, root + "а"))
        else:
            for male, female in SUFFIXES[(i % 2) * 2 : (i % 2) * 2 + 2]:
                out.append((root + male, root + female))
    return out


def _zipf(n: int, s: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


@dataclass(frozen=True)
class SyntheticName:
    full_name: str
    surname: str
    given: str
    patronymic: str
    sex: str
    birth_year: int


class NameGenerator:
    """Deterministic by seed; surnames, given names and patronymics each Zipf-distributed."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.surnames = _surnames()
        self.cum_surname = _zipf(len(self.surnames), 0.9)
        self.cum_male = _zipf(len(MALE), 1.0)
        self.cum_female = _zipf(len(FEMALE), 1.0)
        self.total_surname, self.hi_surname = self.cum_surname[-1] + 0.0, len(self.surnames) - 1
        self.total_male, self.hi_male = self.cum_male[-1] + 0.0, len(MALE) - 1
        self.total_female, self.hi_female = self.cum_female[-1] + 0.0, len(FEMALE) - 1

    def parts(self) -> tuple[str, str, str, bool, int]:
        """(surname, given, patronymic, male, birth year): :meth:`one` without building an object, for the
        import bench's generator (it runs on the importing thread, so its cost counts against the import).
        The draws are ``random.choices``' own (same numbers, same order)."""
        rng = self.rng
        random_ = rng.random
        male = random_() < 0.9  # prisoners recruited are overwhelmingly men
        surname_m, surname_f = self.surnames[
            bisect(self.cum_surname, random_() * self.total_surname, 0, self.hi_surname)
        ]
        father = MALE[bisect(self.cum_male, random_() * self.total_male, 0, self.hi_male)]
        if male:
            given = MALE[bisect(self.cum_male, random_() * self.total_male, 0, self.hi_male)][0]
            surname, patronymic = surname_m, father[1]
        else:
            given = FEMALE[bisect(self.cum_female, random_() * self.total_female, 0, self.hi_female)]
            surname, patronymic = surname_f, father[2]
        return surname, given, patronymic, male, rng.randint(1960, 2004)

    def one(self) -> SyntheticName:
        surname, given, patronymic, male, year = self.parts()
        return SyntheticName(
            f"{surname} {given} {patronymic}", surname, given, patronymic, "m" if male else "f", year
        )

    def __iter__(self) -> Iterator[SyntheticName]:
        while True:
            yield self.one()


@dataclass
class Environment:
    tmp: Path
    agent_proc: Any
    socket: Path
    postgres_dsn: str | None


@contextlib.contextmanager
def environment(database_url: str | None) -> Iterator[Environment]:
    """A temporary data dir, keys and a real agent; Django set up on it and migrated."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kartoteka-bench-")))
        os.environ["KARTOTEKA_DATA_DIR"] = str(tmp / "data")
        os.environ["KARTOTEKA_AUDIT_HEAD_FILE"] = str(tmp / "audit-head")
        # Its own keys and agent even where the shell names an installation's (the CLI's variables).
        os.environ["KARTOTEKA_KEYS_DIR"] = str(tmp / "keys")
        os.environ.pop("KARTOTEKA_AGENT_SOCKET", None)
        os.environ.setdefault("KARTOTEKA_SECRET_KEY", secrets.token_hex(32))
        os.environ["DJANGO_SETTINGS_MODULE"] = "kartoteka.testing.settings"
        dsn = None
        if database_url:
            from kartoteka.testing import postgres

            os.environ["KARTOTEKA_TEST_DATABASE_URL"] = database_url  # the server to make a database on
            dsn = stack.enter_context(postgres.database_temporary("kartoteka_bench"))
            os.environ["DATABASE_URL"] = _url(dsn)
        else:
            os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from kartoteka.lib import agent, keys

        demo_key = tmp / "demo.key"
        keys.init(settings.KEYS_DIR, None, demo_key_file=demo_key)
        proc = agent.spawn(settings.KEYS_DIR, settings.AGENT_SOCKET, demo_key_file=demo_key)
        try:
            call_command("migrate", verbosity=0)
            yield Environment(tmp, proc, settings.AGENT_SOCKET, dsn)
        finally:
            from django.db import connections

            connections.close_all()
            agent.stop(settings.AGENT_SOCKET)
            proc.wait(timeout=10)


def _url(conninfo: str) -> str:
    import psycopg

    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = parts.get("user", "postgres")
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgres://{user}@{host}:{port}/{parts['dbname']}"


def actor_and_team() -> tuple[Any, Any]:
    from kartoteka.accounts.models import Membership, Role, Team, User

    team = Team.objects.create(name="Бенч")
    user = User.objects.create_user(username="bench", password=secrets.token_hex(16), role=Role.CASEWORKER)
    Membership.objects.create(user=user, team=team)
    return user, team


def process_hwm_mb(pid: int) -> float:
    """Peak resident set of another process (the agent), from /proc."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) another process (the agent) has used so far, from /proc."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


@contextlib.contextmanager
def kept_environment(path: Path) -> Iterator[None]:
    """Like people_common.environment, but the data dir (SQLite database, keys), the demo key and the
    secret live in ``path`` and outlive the run, so a 1M load (set-up, not timed) is paid once.
    Synthetic data only: the master key sits in clear beside it, as in any demo."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = path / "secret"
    if not secret.exists():
        secret.write_text(secrets.token_hex(32))
        secret.chmod(0o600)
    os.environ["KARTOTEKA_DATA_DIR"] = str(path / "data")
    os.environ["KARTOTEKA_AUDIT_HEAD_FILE"] = str(path / "audit-head")
    os.environ["KARTOTEKA_KEYS_DIR"] = str(path / "data" / "keys")  # as environment(): never the shell's
    os.environ.pop("KARTOTEKA_AGENT_SOCKET", None)
    os.environ["KARTOTEKA_SECRET_KEY"] = secret.read_text().strip()
    os.environ["DJANGO_SETTINGS_MODULE"] = "kartoteka.settings"
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from kartoteka.lib import agent, keys

    demo_key = path / "demo.key"
    if not demo_key.exists():
        keys.init(settings.KEYS_DIR, None, demo_key_file=demo_key)
    with contextlib.suppress(FileNotFoundError):
        Path(settings.AGENT_SOCKET).unlink()  # left by a run that was killed
    proc = agent.spawn(settings.KEYS_DIR, settings.AGENT_SOCKET, demo_key_file=demo_key)
    try:
        call_command("migrate", verbosity=0)
        yield
    finally:
        connections.close_all()
        agent.stop(settings.AGENT_SOCKET)
        proc.wait(timeout=10)
