"""The extract contract (docs/extracts.md) as data: canonical headers, staged names, types, keys.

Each delivered file is mapped onto the canonical headers (the spec's spellings, "Assesment
Start Date" included), then staged under snake_case names with real types. This module is
the single description of that contract; readers, normalisers, pandera models and the
sample generator all take their column lists from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Types a canonical column can have. `period` is YYYY-MM text; `flag` is 0/1; `likert` is 1-6
# with negative survey codes meaning missing.
TYPES = ("int", "float", "text", "date", "period", "flag", "likert")


@dataclass(frozen=True)
class Column:
    header: str  # canonical header as the contract spells it
    name: str  # staged (snake_case) name
    type: str
    required: bool = True  # the file is rejected when a required column is absent
    nullable: bool = True  # a row is quarantined when a non-nullable value is empty
    personal: bool = False  # dropped at ingestion, never staged

    def __post_init__(self) -> None:
        assert self.type in TYPES, self.type


@dataclass(frozen=True)
class Extract:
    source: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # natural key (staged names): one row per key per country
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%d/%m/%Y")
    pseudonymise: dict[str, str] = field(default_factory=dict)  # staged pseudonym <- id column(s)

    @property
    def by_header(self) -> dict[str, Column]:
        return {c.header: c for c in self.columns}

    @property
    def staged_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.personal]


def C(header: str, type_: str, name: str | None = None, **kw) -> Column:
    return Column(header=header, name=name or header.lower().replace(" ", "_"), type=type_, **kw)


BW_DATES = ("%d/%m/%Y", "%Y-%m-%d")  # Better Work exports write dd/mm/yyyy

EXTRACTS: dict[str, Extract] = {
    e.source: e
    for e in [
        Extract(
            "factories",
            (
                C("ID", "int", "factory_id", nullable=False),
                C("Name", "text", "factory_name", nullable=False),
                C("Country Code", "text", "country_code_iso2", nullable=False),
                C("State", "text", "state"),
                C("Enrolment Date", "date", "enrolment_date", nullable=False),
                C("Status", "text", "status", nullable=False),
                C("Total Workers", "int", "total_workers"),
                C("Female Workers", "int", "female_workers"),
                C("Male Workers", "int", "male_workers"),
                C("First Product", "text", "first_product", required=False),
            ),
            key=("factory_id",),
            date_formats=BW_DATES,
        ),
        Extract(
            "assessments",
            (
                C("Country", "text", "country_name", nullable=False),
                C("Cycle", "int", "cycle"),
                C("Quest ID", "int", "assessment_id", nullable=False),
                C("Factory Assessed ID", "int", "factory_id", nullable=False),
                C("Factory Assessed Name", "text", "factory_name", required=False),
                C("Assesment Start Date", "date", "assessment_start_date", nullable=False),
                C("Cluster", "text", "cluster", nullable=False),
                C("CP", "text", "compliance_point", nullable=False),
                C("Q Label", "text", "question_label"),
                C("Question ID", "text", "question_id", nullable=False),
                C("Question type", "text", "question_type", nullable=False),
                C("Finding", "text", "finding"),
                C("Tags", "text", "tags", required=False),
                C("TQ Name", "text", "tool_name", required=False),
            ),
            key=("assessment_id", "question_id"),
            date_formats=BW_DATES,
        ),
        Extract(
            "picc_members",
            (
                C("Country", "text", "country_name", nullable=False),
                C("Factory ID", "int", "factory_id", nullable=False),
                C("Title", "text", "title", nullable=False),
                C("First Name", "text", "first_name", personal=True),
                C("Last Name", "text", "last_name", personal=True),
                C("Position", "text", "position", required=False),
                C("Category", "text", "category", nullable=False),
                C("Date Joined", "date", "date_joined", nullable=False),
                C("Date Left", "date", "date_left"),
                C("Is Current Chair", "text", "is_current_chair", required=False),
            ),
            # names never leave ingestion: a member is identified by a pseudonym of them
            key=("factory_id", "member_pid", "date_joined"),
            date_formats=BW_DATES,
            pseudonymise={"member_pid": "first_name,last_name"},
        ),
        Extract(
            "payroll",
            (
                C("factory_id", "int", nullable=False),
                C("period", "period", nullable=False),
                C("employee_no", "text", nullable=False, personal=True),
                C("national_id", "text", nullable=False, personal=True),
                C("worker_name", "text", required=False, personal=True),
                C("sex", "text", nullable=False),
                C("birth_date", "date"),
                C("hire_date", "date"),
                C("occupation", "text", nullable=False),
                C("contract_type", "text"),
                C("pay_basis", "text"),
                C("days_worked", "float"),
                C("regular_hours", "float", nullable=False),
                C("overtime_hours", "float", nullable=False),
                C("basic_pay", "float", nullable=False),
                C("overtime_pay", "float", nullable=False),
                C("allowances", "float", nullable=False),
                C("bonuses", "float", nullable=False),
                C("deductions", "float"),
                C("social_security_employee", "float"),
                C("net_pay", "float"),
                C("currency", "text", nullable=False),
                C("payment_method", "text"),
            ),
            key=("factory_id", "period", "worker_pid"),
            pseudonymise={"worker_pid": "national_id"},
        ),
        Extract(
            "social_security",
            (
                C("factory_id", "int", nullable=False),
                C("period", "period", nullable=False),
                C("national_id", "text", nullable=False, personal=True),
                C("registration_date", "date"),
                C("insurable_wage", "float"),
                C("employer_contribution", "float"),
                C("employee_contribution", "float"),
                C("paid_date", "date"),
                C("scheme", "text"),
            ),
            key=("factory_id", "period", "worker_pid"),
            pseudonymise={"worker_pid": "national_id"},
        ),
        Extract(
            "worker_survey",
            (
                C("respondent_id", "text", nullable=False, personal=True),
                C("factory_id", "int", nullable=False),
                C("survey_date", "date", nullable=False),
                C("round", "int", "survey_round", nullable=False),
                C("sex", "text", nullable=False),
                C("age_band", "text"),
                C("migrant", "flag"),
                C("union_member", "flag"),
                C("picc_exists", "flag"),
                C("concern_sexual_harassment", "flag"),
                C("concern_verbal_abuse", "flag"),
                C("concern_dangerous_equipment", "flag"),
                C("concern_accidents", "flag"),
                C("concern_late_pay", "flag"),
                C("comfort_supervisor", "likert"),
                C("comfort_union", "likert"),
                C("comfort_picc", "likert"),
            ),
            key=("factory_id", "survey_round", "respondent_pid"),
            pseudonymise={"respondent_pid": "respondent_id"},
        ),
    ]
}

# Codes the contract fixes for text columns (after normalisation).
SEX_CODES = ("F", "M")
OCCUPATIONS = (
    "sewing_operator",
    "helper",
    "cutter",
    "quality_control",
    "mechanic",
    "supervisor",
    "manager",
    "other",
)
CONTRACT_TYPES = ("fixed_term", "open_ended", "casual", "probation")
PAY_BASES = ("monthly", "daily", "piece")
PAYMENT_METHODS = ("cash", "bank", "mobile")
AGE_BANDS = ("<18", "18-20", "21-25", "26-30", "31-35", "36-40", "40+")
FACTORY_STATUSES = ("Active", "Inactive")
PICC_CATEGORIES = ("Workers", "Management")
PICC_TITLES = ("Mr.", "Ms.", "Mrs.", "Miss")
QUESTION_TYPES = ("NCQ", "FGW")
SURVEY_MISSING_CODES = (-98, -99)  # don't know, refused: missing, never a value
