export { createGeoResolver, GEO_MAX_BATCH } from './resolver.js';
export { openGeoDatabase, embeddedDatabasePath, type GeoDatabase, type GeoSpec } from './database.js';
export { parseIp, type IpKey } from '../util/ip.js';
export { parseRangeList, RangeTable } from './ranges.js';
export { geoLookup, geoOpen } from './offload.js';
export { geoFilesStamp } from './stamp.js';
