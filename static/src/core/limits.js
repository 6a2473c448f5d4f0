// Lengths the API accepts, for the forms' maxlength: the same numbers as the server's schemas
// (tests/test_app_limits.py checks them against the OpenAPI document, so they cannot drift apart).
export const LIMITS = {
  workOrderTitle: 300, // WorkOrderCreateSchema.title
  workOrderDescription: 20000, // WorkOrderCreateSchema.description
};
