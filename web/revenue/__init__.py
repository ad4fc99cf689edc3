"""The revenue domain's API: report uploads and their imports, statements, the wallet,
withdrawals."""

from web.revenue import statements, uploads, wallet

blueprints = [uploads.blp, statements.blp, wallet.blp]
