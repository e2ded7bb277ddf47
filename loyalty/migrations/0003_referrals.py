from tortoise import migrations
from tortoise.migrations import operations as ops
from loyalty.enums import ReferralStatus
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('loyalty', '0002_notification')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Referral',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('program_id', fields.CharField(max_length=64)),
                ('code', fields.CharField(max_length=32)),
                ('referrer_id', fields.BigIntField(db_index=True)),
                ('referrer_customer_id', fields.CharField(max_length=128)),
                ('friend_customer_id', fields.CharField(db_index=True, max_length=128)),
                ('attributed_friend', fields.CharField(null=True, max_length=128)),
                ('order_id', fields.CharField(unique=True, max_length=128)),
                ('status', fields.CharEnumField(default=ReferralStatus.PENDING, description='PENDING: PENDING\nREVIEW: REVIEW\nREWARDED: REWARDED\nREJECTED: REJECTED', enum_type=ReferralStatus, max_length=16)),
                ('rule', fields.CharField(null=True, max_length=64)),
                ('detail', fields.CharField(null=True, max_length=500)),
                ('fraud', fields.BooleanField(default=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('rewarded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('referrer_bonus', fields.IntField(default=0)),
                ('friend_bonus', fields.IntField(default=0)),
                ('friend_due_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('friend_paid', fields.BooleanField(default=False)),
                ('reward_activates_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reward_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('rules_version', fields.CharField(null=True, max_length=64)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referral', 'app': 'loyalty', 'unique_together': (('program_id', 'attributed_friend'),), 'indexes': [Index(fields=['status', 'at'])], 'pk_attr': 'id', 'table_description': 'One order that carried a referral code (RF-05), and what became of it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferralCode',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('participant_id', fields.BigIntField()),
                ('customer_id', fields.CharField(max_length=128)),
                ('program_id', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('blocked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referral_code', 'app': 'loyalty', 'unique_together': (('participant_id', 'program_id'),), 'pk_attr': 'code', 'table_description': 'One referral code of a participant in one program (RF-01), excluded once blocked_at is set (RF-10).'},
            bases=['Model'],
        ),
    ]
