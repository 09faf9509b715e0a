"""Validation results as text: one greppable line per problem, JSON, or GitHub Actions annotations.

Plain strings, never wrapped: a problem line must survive `grep`, editors' jump-to-line and CI logs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from archgen.errors import Problem, printable
from archgen.validation import FileResult, ValidationReport

Format = Literal["text", "json", "github"]


def render(report: ValidationReport, *, format: Format) -> str:
    """The whole report in one format, ending with a newline."""
    return {"text": text, "json": as_json, "github": github}[format](report)


def text(report: ValidationReport) -> str:
    """`path:line: field.path: message` per problem, then a one-line summary."""
    return "".join(f"{_problem(result, problem)}\n" for result, problem in _problems(report)) + summary(report) + "\n"


def summary(report: ValidationReport) -> str:
    """`26 specs valid`, or `2 of 26 specs invalid (3 problems)`."""
    total, invalid, problems = len(report.results), len(report.invalid), len(report.problems)
    noun = "spec" if total == 1 else "specs"
    if not invalid:
        return f"{total} {noun} valid"
    return f"{invalid} of {total} {noun} invalid ({problems} problem{'' if problems == 1 else 's'})"


def as_json(report: ValidationReport) -> str:
    """`{"valid": …, "summary": …, "files": [{"path", "valid", "name", "problems": [...]}]}`."""
    files = [
        {
            "path": str(result.path),
            "valid": result.valid,
            "name": result.name,
            "problems": [_problem_dict(result, problem) for problem in result.problems],
        }
        for result in report.results
    ]
    return json.dumps({"valid": report.valid, "summary": summary(report), "files": files}, indent=2) + "\n"


def github(report: ValidationReport) -> str:
    """GitHub Actions workflow commands: `::error file=…,line=…,col=…,title=…::message` per problem."""
    lines = []
    for result, problem in _problems(report):
        properties = {"file": str(_file(result, problem)), "line": problem.line, "col": problem.column,
                      "title": f"archgen: {problem.field}" if problem.field else "archgen"}
        written = ",".join(f"{key}={_escape_property(str(value))}" for key, value in properties.items() if value)
        message = f"{problem.field}: {problem.message}" if problem.field else problem.message
        lines.append(f"::error {written}::{_escape_data(message)}\n")
    return "".join(lines) + summary(report) + "\n"


def _problems(report: ValidationReport) -> list[tuple[FileResult, Problem]]:
    return [(result, problem) for result in report.results for problem in result.problems]


def _file(result: FileResult, problem: Problem) -> Path:
    return problem.file if problem.file is not None else result.path


def _problem(result: FileResult, problem: Problem) -> str:
    return str(problem) if problem.file is not None else f"{printable(str(result.path))}: {problem}"


def _problem_dict(result: FileResult, problem: Problem) -> dict[str, object]:
    return {"file": str(_file(result, problem)), "line": problem.line, "column": problem.column,
            "field": problem.field, "message": problem.message, "text": _problem(result, problem)}


# https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts: escapeData / escapeProperty
def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")
