"""SQS: inventory levels from the WMS, {"events": [...]} as in POST /inventory/events; same validation, same rules."""
from functions.runtime import sqs_batch


def handler(event, context):
    def handle(body):
        from flask import current_app

        from app.common.clock import utcnow
        from app.quality import shortage
        from app.quality.schemas import InventoryEventsBodySchema

        payload = InventoryEventsBodySchema().load(body)  # a malformed message fails alone (batchItemFailures)
        config = current_app.config
        shortage.record_inventory_events(items=payload["events"], now=utcnow(), tz=config["BUSINESS_TIMEZONE"],
                                         margin=config["SHORTAGE_RESUME_MARGIN"],
                                         max_future_skew=config["INVENTORY_MAX_FUTURE_SKEW_SECONDS"])

    return sqs_batch(event, handle, job="inventory")
