/** What a service reports about itself, for the admin API (declared with the API's other shapes). */
export type { ServiceState, ServiceStatus } from './admin-api.js';
