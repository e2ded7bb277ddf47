"""Gift campaigns as the marketing console sees them (CA-01..CA-05), role marketer."""

from __future__ import annotations

import logging
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from loyalty import audiences, campaigns
from loyalty.access import Role, require
from loyalty.enums import CampaignStatus as CampaignStatusEnum
from loyalty.jobs import QueueUnavailable, dispatch
from loyalty.models import Campaign as CampaignRow
from schema.context import Info
from schema.relay import PageInfo, page_info

log = logging.getLogger("loyalty.campaigns")

CampaignStatus = strawberry.enum(CampaignStatusEnum, name="CampaignStatus")


@strawberry.input
class AudienceInput:
    all: bool | None = None
    tier: str | None = None
    participant_ids: list[strawberry.ID] | None = None
    bought_category: str | None = None
    bought_since: datetime | None = None
    segment: str | None = None
    segment_params: JSON | None = None

    def domain(self) -> audiences.Audience:
        return audiences.audience(
            all=self.all,
            tier=self.tier,
            customer_ids=[str(i) for i in self.participant_ids] if self.participant_ids is not None else None,
            bought_category=self.bought_category,
            bought_since=self.bought_since,
            segment=self.segment,
            segment_params=self.segment_params,
        )


@strawberry.input
class GiftCampaignInput:
    name: str
    program_id: strawberry.ID
    amount: int
    audience: AudienceInput
    starts_at: datetime | None = None
    expires_at: datetime | None = None
    valid_days: int | None = None
    message: str | None = None


@strawberry.type(description="Participants an audience matches now (CA-02).")
class AudiencePreview:
    count: int


@strawberry.type(description="A gift campaign (CA-01..CA-05).")
class Campaign:
    id: strawberry.ID
    name: str
    status: CampaignStatus  # type: ignore[valid-type]
    program_id: strawberry.ID
    amount: int
    audience_size: int
    granted: int
    skipped: int
    bonus_granted: int
    message: str | None
    starts_at: datetime | None
    expires_at: datetime | None
    valid_days: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: CampaignRow, progress: campaigns.Progress) -> Campaign:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            status=row.status,
            program_id=strawberry.ID(row.program_id),
            amount=row.amount,
            audience_size=row.audience_size,
            granted=progress.granted,
            skipped=progress.skipped,
            bonus_granted=progress.granted * row.amount,
            message=row.message,
            starts_at=row.starts_at,
            expires_at=row.expires_at,
            valid_days=row.valid_days,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    @strawberry.field(description="Of bonusGranted, bonuses spent so far (CA-05).")
    async def bonus_spent(self, info: Info) -> int:
        return await info.context.loaders.campaign_spent.load(int(self.id))

    @strawberry.field(description="Of bonusGranted, bonuses burned so far (CA-05, LB-14).")
    async def bonus_burned(self, info: Info) -> int:
        return await info.context.loaders.campaign_burned.load(int(self.id))


async def _shaped(row: CampaignRow) -> Campaign:
    return Campaign.of(row, (await campaigns.progress([row.id]))[row.id])


@strawberry.type
class CampaignPayload:
    campaign: Campaign


@strawberry.type
class CampaignEdge:
    cursor: str
    node: Campaign


@strawberry.type
class CampaignConnection:
    edges: list[CampaignEdge]
    page_info: PageInfo


async def _enqueue(info: Info, work: campaigns.Work) -> None:
    # The launch is committed and its batches are in the database: with the queue down,
    # the answer is still the campaign, and the sweeper enqueues the batches later.
    if info.context.queue is not None:
        try:
            await dispatch(info.context.queue, work)
        except QueueUnavailable as error:
            log.warning(
                "campaign %s: queue unavailable (%s); the sweeper will enqueue its batches", work.campaign_id, error
            )


@strawberry.type
class Query:
    @strawberry.field(description="Role marketer: participants the audience matches now (CA-02).")
    async def preview_audience(self, info: Info, program_id: strawberry.ID, audience: AudienceInput) -> AudiencePreview:
        require(info.context.caller, Role.MARKETER)
        count = await campaigns.preview(info.context.catalog, str(program_id), audience.domain())
        return AudiencePreview(count=count)

    @strawberry.field(description="Role marketer: the campaign with this id; null if none.")
    async def campaign(self, info: Info, id: strawberry.ID) -> Campaign | None:
        require(info.context.caller, Role.MARKETER)
        row = await campaigns.find(str(id))
        return await _shaped(row) if row else None

    @strawberry.field(description="Role marketer: every gift campaign, newest created first.")
    async def campaigns(self, info: Info, first: int | None = 20, after: str | None = None) -> CampaignConnection:
        require(info.context.caller, Role.MARKETER)
        page = await campaigns.page(20 if first is None else first, after)
        progress = await campaigns.progress([row.id for row in page.campaigns])
        edges = [
            CampaignEdge(cursor=campaigns.cursor(row), node=Campaign.of(row, progress[row.id]))
            for row in page.campaigns
        ]
        return CampaignConnection(
            edges=edges,
            page_info=page_info([edge.cursor for edge in edges], has_next=page.has_next, after=after),
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Role marketer: a DRAFT gift campaign, its audience counted (CA-01, CA-02).")
    async def create_gift_campaign(self, info: Info, input: GiftCampaignInput) -> CampaignPayload:
        caller = require(info.context.caller, Role.MARKETER)
        row = await campaigns.create(
            info.context.catalog,
            campaigns.Draft(
                name=input.name,
                program_id=str(input.program_id),
                amount=input.amount,
                audience=input.audience.domain(),
                starts_at=input.starts_at,
                expires_at=input.expires_at,
                valid_days=input.valid_days,
                message=input.message,
            ),
            actor=caller.sub,
            batch_size=info.context.campaign_batch_size,
        )
        return CampaignPayload(campaign=await _shaped(row))

    @strawberry.mutation(description="Role marketer: launches a DRAFT campaign; its audience is fixed now (CA-03).")
    async def launch_campaign(self, info: Info, id: strawberry.ID) -> CampaignPayload:
        require(info.context.caller, Role.MARKETER)
        row, work = await campaigns.launch(info.context.catalog, str(id))
        await _enqueue(info, work)
        return CampaignPayload(campaign=await _shaped(row))

    @strawberry.mutation(description="Role marketer: RUNNING or SCHEDULED becomes PAUSED (CA-03).")
    async def pause_campaign(self, info: Info, id: strawberry.ID) -> CampaignPayload:
        require(info.context.caller, Role.MARKETER)
        return CampaignPayload(campaign=await _shaped(await campaigns.pause(str(id))))

    @strawberry.mutation(description="Role marketer: PAUSED becomes RUNNING (or SCHEDULED) again (CA-03).")
    async def resume_campaign(self, info: Info, id: strawberry.ID) -> CampaignPayload:
        require(info.context.caller, Role.MARKETER)
        row, work = await campaigns.resume(str(id))
        await _enqueue(info, work)
        return CampaignPayload(campaign=await _shaped(row))

    @strawberry.mutation(description="Role marketer: the campaign becomes CANCELLED; granted gifts stay (CA-03).")
    async def cancel_campaign(self, info: Info, id: strawberry.ID) -> CampaignPayload:
        require(info.context.caller, Role.MARKETER)
        return CampaignPayload(campaign=await _shaped(await campaigns.cancel(str(id))))
