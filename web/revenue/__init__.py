"""The revenue domain's API: report uploads and their imports, the wallet, withdrawals."""

from web.revenue import uploads, wallet

blueprints = [uploads.blp, wallet.blp]
