"""Tables of the review: comments people leave on a submission."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models import Base, UTCDateTime, utcnow


class Comment(Base):
    """A note on a submission, kept with its author and time (never edited)."""

    __tablename__ = "submission_comments"
    __table_args__ = (Index("ix_submission_comments_submission", "submission_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
