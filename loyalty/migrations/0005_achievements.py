from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('loyalty', '0004_ledger_checks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AchievementUnlock',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('participant_id', fields.BigIntField()),
                ('program_id', fields.CharField(max_length=64)),
                ('achievement_id', fields.CharField(max_length=64)),
                ('wallet_id', fields.BigIntField()),
                ('unlocked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('order_id', fields.CharField(null=True, db_index=True, max_length=128)),
                ('reward', fields.IntField(default=0)),
                ('entry_id', fields.BigIntField(null=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'achievement_unlock', 'app': 'loyalty', 'unique_together': (('participant_id', 'program_id', 'achievement_id'),), 'pk_attr': 'id', 'table_description': 'An achievement a participant unlocked in a program, and the reward it credited.'},
            bases=['Model'],
        ),
    ]
