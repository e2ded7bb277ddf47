from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('loyalty', '0005_achievements')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Order',
            name='wallet_id',
            field=fields.BigIntField(null=True, db_index=True),
        ),
    ]
