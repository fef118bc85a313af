/* Verivali: the submission's GPS point and the village centroid on a Leaflet map.
 *
 * Works without tiles (closed networks): a light graticule, a metric scale and the
 * distance between the two points make it readable as a map on its own. Tiles are added
 * only when the page passes a tile URL. See docs/decisions/0011-maps-without-tiles.md.
 *
 * Reads each <div class="map"> rendered by templates/reviews/_map.html:
 *   data-point="lat,lon"  data-accuracy="metres"  data-centroid="lat,lon"
 *   data-radius="metres" (circle around the centroid, e.g. the V32 limit)
 *   data-tiles="https://.../{z}/{x}/{y}.png"  data-tiles-attribution="..."
 *   data-label-point="..."  data-label-centroid="..."
 *   data-boundary='{"type":"Polygon",...}' (GeoJSON geometry; for later, optional)
 * Labels come from the page (gettext); this file holds no language but unit symbols.
 * Plain ES5, no build step. Needs Leaflet (static/vendor/leaflet/leaflet.js) loaded first.
 */
(function () {
  'use strict';

  var EARTH_RADIUS_M = 6371008.8; // IUGG mean radius, as server/rules/location.py
  var MAX_FIT_ZOOM = 18;
  var SINGLE_ZOOM = 17;
  // Graticule spacings in degrees; the smallest that keeps at most MAX_LINES across the view.
  var STEPS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
               0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30];
  var MAX_LINES = 7;
  var COLORS = {
    point: '#c0392b', centroid: '#0b6e4f', line: '#1f2933',
    grid: '#9fb3c8', radius: '#0b6e4f', boundary: '#0b6e4f'
  };

  function parsePoint(text) {
    if (!text) return null;
    var parts = String(text).split(',');
    if (parts.length !== 2) return null;
    var lat = parseFloat(parts[0]), lon = parseFloat(parts[1]);
    if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
    return L.latLng(lat, lon);
  }

  function parseNumber(text) {
    var value = parseFloat(text);
    return isFinite(value) && value > 0 ? value : null;
  }

  function haversine(a, b) {
    var rad = Math.PI / 180;
    var lat1 = a.lat * rad, lat2 = b.lat * rad;
    var dlat = lat2 - lat1, dlon = (b.lng - a.lng) * rad;
    var h = Math.pow(Math.sin(dlat / 2), 2) +
            Math.cos(lat1) * Math.cos(lat2) * Math.pow(Math.sin(dlon / 2), 2);
    return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(Math.min(1, h)));
  }

  // Numbers in the page's language (<html lang>): "1,2 km" in Indonesian, "1.2 km" in English.
  function formatNumber(value, digits) {
    var lang = document.documentElement.lang || undefined;
    try {
      return value.toLocaleString(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits });
    } catch (e) {
      return value.toFixed(digits);
    }
  }

  function formatDistance(metres) {
    if (metres < 1000) return formatNumber(Math.round(metres), 0) + ' m';
    return formatNumber(metres / 1000, metres < 10000 ? 2 : 1) + ' km';
  }

  // Tooltip content as a DOM node: labels are text, never HTML (Leaflet sets strings as innerHTML).
  function textNode(lines) {
    var box = document.createElement('span');
    lines.forEach(function (line, i) {
      if (!line) return;
      if (box.childNodes.length) box.appendChild(document.createElement('br'));
      var part = document.createElement(i === 0 ? 'b' : 'span');
      part.textContent = line;
      box.appendChild(part);
    });
    return box;
  }

  function chooseStep(bounds) {
    var span = Math.max(bounds.getNorth() - bounds.getSouth(), bounds.getEast() - bounds.getWest());
    for (var i = 0; i < STEPS.length; i++) {
      if (span / STEPS[i] <= MAX_LINES) return STEPS[i];
    }
    return STEPS[STEPS.length - 1];
  }

  function decimals(step) {
    return Math.max(0, Math.ceil(-Math.log(step) / Math.LN10 - 1e-9));
  }

  function Graticule(map) {
    this.map = map;
    map.createPane('verivaliGrid');
    map.getPane('verivaliGrid').style.zIndex = 350; // above tiles (200), below shapes (400)
    map.getPane('verivaliGrid').style.pointerEvents = 'none';
    this.renderer = L.svg({ pane: 'verivaliGrid', padding: 0.5 });
    this.layer = L.layerGroup().addTo(map);
    this.redraw = this.redraw.bind(this);
    map.on('zoomend moveend resize', this.redraw);
    this.redraw();
  }

  Graticule.prototype.redraw = function () {
    var map = this.map, layer = this.layer;
    layer.clearLayers();
    var view = map.getBounds();
    if (!view.isValid() || view.getNorth() === view.getSouth()) return;
    var step = chooseStep(view);
    var digits = decimals(step);
    var area = view.pad(0.5); // lines reach past the edges, so panning shows no gap
    var south = Math.max(-90, area.getSouth()), north = Math.min(90, area.getNorth());
    var west = area.getWest(), east = area.getEast();
    var style = { pane: 'verivaliGrid', renderer: this.renderer, color: COLORS.grid,
                  weight: 1, opacity: 0.7, interactive: false };
    var size = map.getSize();
    var lat, lon, px;
    for (lat = Math.ceil(south / step) * step; lat <= north; lat += step) {
      layer.addLayer(L.polyline([[lat, west], [lat, east]], style));
      px = map.latLngToContainerPoint([lat, view.getWest()]);
      if (px.y > 14 && px.y < size.y - 30) {
        layer.addLayer(this.label([lat, view.getEast()], lat.toFixed(digits) + '°', 'lat'));
      }
    }
    for (lon = Math.ceil(west / step) * step; lon <= east; lon += step) {
      layer.addLayer(L.polyline([[south, lon], [north, lon]], style));
      px = map.latLngToContainerPoint([view.getNorth(), lon]);
      if (px.x > 60 && px.x < size.x - 40) {
        layer.addLayer(this.label([view.getNorth(), lon], lon.toFixed(digits) + '°', 'lon'));
      }
    }
  };

  Graticule.prototype.label = function (latlng, text, kind) {
    // text is digits, '.', '-' and '°' only (built above), so it is safe as HTML.
    return L.marker(latlng, {
      pane: 'verivaliGrid', interactive: false, keyboard: false,
      icon: L.divIcon({ className: 'map-grid-label map-grid-' + kind,
                        html: '<span>' + text + '</span>', iconSize: null })
    });
  };

  function draw(el) {
    if (el.getAttribute('data-map-ready')) return;
    var point = parsePoint(el.getAttribute('data-point'));
    var centroid = parsePoint(el.getAttribute('data-centroid'));
    var shape = null;
    try {
      if (el.getAttribute('data-boundary')) {
        shape = L.geoJSON(JSON.parse(el.getAttribute('data-boundary')), { interactive: false,
          style: { color: COLORS.boundary, weight: 2, opacity: 0.8, fillOpacity: 0.04 } });
        if (!shape.getBounds().isValid()) shape = null;
      }
    } catch (e) {
      shape = null; // not GeoJSON: drawn without it
    }
    if (!point && !centroid && !shape) return; // nothing to show: the fallback text stays
    var accuracy = parseNumber(el.getAttribute('data-accuracy'));
    var radius = parseNumber(el.getAttribute('data-radius'));
    var tiles = el.getAttribute('data-tiles') || '';
    var labelPoint = el.getAttribute('data-label-point') || '';
    var labelCentroid = el.getAttribute('data-label-centroid') || '';

    el.setAttribute('data-map-ready', '1');
    while (el.firstChild) el.removeChild(el.firstChild); // the fallback text
    el.classList.add('map-live');
    if (!tiles) el.classList.add('map-no-tiles');

    var map = L.map(el, {
      attributionControl: !!tiles,
      scrollWheelZoom: false, // the map sits in a scrolling page; +/- and double-click zoom
      maxZoom: 19,
      minZoom: 2,
      zoomSnap: 1
    });
    L.control.scale({ metric: true, imperial: false, maxWidth: 120 }).addTo(map);

    // Shapes go on the map only once it has a view: Leaflet 1.9 may otherwise draw a path
    // before its renderer has bounds (seen with a GeoJSON boundary added first).
    var shapes = L.featureGroup();
    var fit = [];
    if (shape) {
      shape.addTo(shapes);
      fit.push(shape.getBounds().getSouthWest(), shape.getBounds().getNorthEast());
    }
    if (centroid && radius) {
      L.circle(centroid, { radius: radius, color: COLORS.radius, weight: 1.5, opacity: 0.6,
                           dashArray: '2 6', fill: false, interactive: false }).addTo(shapes);
    }
    if (point && centroid) {
      var metres = haversine(point, centroid);
      L.polyline([point, centroid], { color: COLORS.line, weight: 2, opacity: 0.8, dashArray: '6 6' })
        .bindTooltip(formatDistance(metres), { permanent: true, direction: 'center',
                                               className: 'map-distance' })
        .addTo(shapes);
      el.setAttribute('data-distance-m', String(Math.round(metres)));
    }
    // The label sits on the side away from the other point.
    var pointSide = point && centroid && point.lng > centroid.lng ? 'right' : 'left';
    var centroidSide = pointSide === 'right' ? 'left' : 'right';
    if (centroid) {
      var ring = L.circleMarker(centroid, { radius: 8, color: COLORS.centroid, weight: 3,
                                            fillColor: '#fff', fillOpacity: 1 }).addTo(shapes);
      L.circleMarker(centroid, { radius: 2.5, stroke: false, fillColor: COLORS.centroid,
                                 fillOpacity: 1, interactive: false }).addTo(shapes);
      if (labelCentroid) {
        ring.bindTooltip(textNode([labelCentroid]), { permanent: true, direction: centroidSide,
                                                      offset: [centroidSide === 'right' ? 8 : -8, 0],
                                                      className: 'map-label' });
      }
      fit.push(centroid);
    }
    if (point) {
      if (accuracy) {
        L.circle(point, { radius: accuracy, color: COLORS.point, weight: 1, opacity: 0.5,
                          fillColor: COLORS.point, fillOpacity: 0.12, interactive: false }).addTo(shapes);
      }
      var dot = L.circleMarker(point, { radius: 6, color: '#fff', weight: 2,
                                        fillColor: COLORS.point, fillOpacity: 1 }).addTo(shapes);
      var accuracyText = accuracy ? '± ' + formatNumber(Math.round(accuracy), 0) + ' m' : '';
      if (labelPoint || accuracyText) {
        dot.bindTooltip(textNode([labelPoint, accuracyText]), {
          permanent: true, direction: pointSide, offset: [pointSide === 'right' ? 6 : -6, 0],
          className: 'map-label' });
      }
      fit.push(point);
    }

    if (fit.length === 1) {
      map.setView(fit[0], SINGLE_ZOOM);
    } else {
      map.fitBounds(L.latLngBounds(fit), { padding: [40, 40], maxZoom: MAX_FIT_ZOOM });
    }
    shapes.addTo(map);

    var grid = null;
    if (tiles) {
      var attribution = el.getAttribute('data-tiles-attribution') ||
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>';
      var tileLayer = L.tileLayer(tiles, { maxZoom: 19, attribution: attribution }).addTo(map);
      // Tile server configured but out of reach: fall back to the graticule.
      tileLayer.once('tileerror', function () {
        if (!grid) grid = new Graticule(map);
        el.classList.add('map-no-tiles');
      });
    } else {
      grid = new Graticule(map);
    }

    if (window.ResizeObserver) {
      new ResizeObserver(function () { map.invalidateSize(); }).observe(el);
    }
    el.verivaliMap = map; // for tests and later scripts
  }

  function start() {
    if (!window.L) return; // Leaflet missing: the fallback text stays
    var maps = document.querySelectorAll('div.map');
    for (var i = 0; i < maps.length; i++) {
      try {
        draw(maps[i]);
      } catch (e) {
        if (window.console) console.error('map:', e);
      }
    }
  }

  window.verivaliMapHaversine = haversine;
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
