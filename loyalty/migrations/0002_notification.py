from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from loyalty.enums import NotificationKind, NotificationStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('loyalty', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('kind', fields.CharEnumField(description='REFERRAL_REWARDED: referral_rewarded\nCAMPAIGN_MESSAGE: campaign_message', enum_type=NotificationKind, max_length=32)),
                ('program_id', fields.CharField(max_length=64)),
                ('participant_id', fields.BigIntField(db_index=True)),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('marketing', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=NotificationStatus.PENDING, description='PENDING: PENDING\nSENT: SENT\nDROPPED: DROPPED\nFAILED: FAILED', enum_type=NotificationStatus, max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=500)),
            ],
            options={'table': 'notification', 'app': 'loyalty', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id', 'table_description': 'One notification to deliver at least once through the ``notify`` hook (RF-11, CA-01).'},
            bases=['Model'],
        ),
    ]
