"""An outside world for engine tests: a store of objects that can be looked up by a key, like a
Classroom course by its alias or a form by its Drive appProperties, and that can "crash" the process
right after making an object (before the journal row is written)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from lms_bridge.domain import draw
from lms_bridge.domain.session import ExamKind, Member, Role, SessionSpec, Student
from lms_bridge.journal import FunctionStep, Made, StepContext, StepFailed
from lms_bridge.store.models import ExamSession


class Crash(BaseException):
    """The worker process dying mid-step (not an Exception: the engine must not swallow it)."""


class World:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}  # lookup key -> outside id
        self.creations: Counter[str] = Counter()
        self.crash_after: str | None = None  # crash right after creating this key
        self.fail_on: str | None = None  # StepFailed when asked to create this key

    def create(self, key: str) -> Made:
        if self.fail_on == key:
            raise StepFailed(f"the service refused {key}", retryable=True)
        self.creations[key] += 1
        outside_id = f"id-{key}-{self.creations[key]}"
        self.objects[key] = outside_id
        if self.crash_after == key:
            self.crash_after = None
            raise Crash(key)
        return Made(outside_id, {"key": key})

    def find(self, key: str) -> Made | None:
        return Made(self.objects[key], {"key": key}) if key in self.objects else None


def plan_for(world: World) -> list[FunctionStep]:
    def course(ctx: StepContext) -> None:
        ctx.api_calls.count("classroom")
        ctx.ensure("classroom.course", lambda: world.create("course"), lambda: world.find("course"))

    def forms(ctx: StepContext) -> None:
        for student in ctx.spec.admitted:
            key = f"form:{student.id}"
            ctx.api_calls.count("forms")
            ctx.ensure(f"forms.form:{student.id}", lambda k=key: world.create(k),
                       lambda k=key: world.find(k))

    def enrol(ctx: StepContext) -> None:
        for person in (*ctx.spec.commission, *ctx.spec.admitted):
            key = f"enrol:{person.email}"
            ctx.api_calls.count("moodle")
            ctx.ensure(f"moodle.enrol:{person.email}", lambda k=key: world.create(k),
                       lambda k=key: world.find(k))

    return [FunctionStep("test.course", lambda: "Course", course),
            FunctionStep("test.forms", lambda: "Forms", forms),
            FunctionStep("test.enrol", lambda: "Enrolments", enrol)]


def make_spec(code: str = "SE-2026-TEST", students: int = 4) -> SessionSpec:
    return SessionSpec(
        code=code, title="Мемлекеттік емтихан", kind=ExamKind.WRITTEN_EXAM, programme="6B06102",
        group="ИС-21",
        language="kk", timezone="Asia/Almaty", starts_at=datetime(2026, 6, 1, 4, 0, tzinfo=UTC),
        preparation_minutes=30,
        commission=(Member("Төраға", "chair@uni.kz", Role.CHAIR), Member("Мүше", "m1@uni.kz", Role.MEMBER),
                    Member("Хатшы", "sec@uni.kz", Role.SECRETARY)),
        students=tuple(Student(f"S{i}", f"Студент {i}", f"s{i}@uni.kz") for i in range(1, students + 1)),
    )


def add_session(db: Session, spec: SessionSpec) -> ExamSession:
    seed = draw.new_seed()
    session = ExamSession(code=spec.code, title=spec.title, kind=str(spec.kind), language=spec.language,
                          timezone=spec.timezone, starts_at=spec.starts_at,
                          preparation_minutes=spec.preparation_minutes, draw_seed=seed,
                          draw_commitment=draw.commitment(seed))
    db.add(session)
    db.commit()
    return session


def import_spec(db: Session, spec: SessionSpec) -> ExamSession:
    """Store ``spec`` the way `lms-bridge import` does (members, students, tickets, draw commitment)."""
    from lms_bridge.store.repo import import_session

    session = import_session(db, spec, source_name="test.yaml", actor="test").session
    db.commit()
    return session
