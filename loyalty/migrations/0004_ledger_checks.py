from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import CheckConstraint

class Migration(migrations.Migration):
    dependencies = [('loyalty', '0003_referrals')]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name='Draw',
            constraint=CheckConstraint(check='amount > 0', name='draw_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='Entry',
            constraint=CheckConstraint(check='amount <> 0', name='entry_amount_not_zero'),
        ),
        ops.AddConstraint(
            model_name='Lot',
            constraint=CheckConstraint(check='amount > 0', name='lot_amount_positive'),
        ),
        ops.AddConstraint(
            model_name='Lot',
            constraint=CheckConstraint(check='remaining >= 0 AND remaining <= amount', name='lot_remaining_within_amount'),
        ),
        ops.AddConstraint(
            model_name='Wallet',
            constraint=CheckConstraint(check='debt >= 0', name='wallet_debt_not_negative'),
        ),
    ]
