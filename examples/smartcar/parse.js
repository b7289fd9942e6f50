// The smart-car pipeline's parse step as a multilang shell bolt, in JavaScript, written
// against Storm's own storm.js (BasicBolt). It does exactly what the Python ParseBolt
// (bolts.py) does with parse_line (record.py): the same fields, values and reasons.
//
//   input   (line, origin, error)
//   default row_key, date, car_number, speed_pedal, break_pedal, steer_angle,
//           direct_light, speed, area_number, event_time_ms
//   error   record, reason, origin
//
// Run: ShellBolt(["node", "parse.js"], ...) with storm.js next to this file
// (build_topology(..., parse_command=...) declares the streams; docs/multilang.md says
// where storm.js comes from). JSON has one number type: this bolt writes the float
// fields with a decimal point (12 -> 12.0), so Python reads them back as floats, as
// the Python bolt emits them; see sendMsgToParent below.
//
// Semantics: examples/smartcar/bolts.py ParseBolt, record.py parse_line; Python's
// float() syntax and repr() of str, which the reasons quote.
'use strict';

var MAX_RECORD_BYTES = 65536;
var ERROR_STREAM = 'error';
var NUMBER_NAMES = ['speed_pedal', 'break_pedal', 'steer_angle', 'direct_light', 'speed'];

function RecordError(reason) {
    this.reason = reason;
}

// A float the parent must read back as a float: JSON.stringify writes 12.0 as 12,
// which Python's json reads as an int (and the table stores as "12", not "12.0").
function PyFloat(value) {
    this.value = value;
}

PyFloat.prototype.json = function() {
    if (Object.is(this.value, -0)) {
        return '-0.0';
    }
    var text = String(this.value);      // the shortest text that reads back as this value
    return /[.e]/.test(text) ? text : text + '.0';
};

function toJson(value) {
    if (value instanceof PyFloat) {
        return value.json();
    }
    if (Array.isArray(value)) {
        return '[' + value.map(function(v) {
            return v === undefined ? 'null' : toJson(v);
        }).join(',') + ']';
    }
    if (value !== null && typeof value === 'object') {
        var parts = [];
        Object.keys(value).forEach(function(k) {
            if (value[k] !== undefined) {     // as JSON.stringify: absent, not null
                parts.push(JSON.stringify(k) + ':' + toJson(value[k]));
            }
        });
        return '{' + parts.join(',') + '}';
    }
    return JSON.stringify(value);
}

// -- Python's str semantics ------------------------------------------------------------

// str.isspace() / str.strip(): ASCII 9-13 and 28-32, and the Unicode whitespace.
var PY_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
var PY_STRIP = new RegExp('^[' + PY_SPACE + ']+|[' + PY_SPACE + ']+$', 'g');
var PY_UNICODE_SPACE = new RegExp('^[' + PY_SPACE + ']$');

function pyStrip(s) {
    return s.replace(PY_STRIP, '');
}

function pyRstripCrLf(s) {
    return s.replace(/[\r\n]+$/, '');
}

// Characters str.isprintable() rejects: categories Other and Separator, but ' '.
var NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function hex(cp, width) {
    var h = cp.toString(16);
    return '0'.repeat(width - h.length) + h;
}

// repr() of a Python str.
function pyRepr(s) {
    var quote = (s.indexOf("'") >= 0 && s.indexOf('"') < 0) ? '"' : "'";
    var out = quote;
    for (var ch of s) {
        var cp = ch.codePointAt(0);
        if (ch === quote || ch === '\\') {
            out += '\\' + ch;
        } else if (ch === '\t') {
            out += '\\t';
        } else if (ch === '\n') {
            out += '\\n';
        } else if (ch === '\r') {
            out += '\\r';
        } else if (cp < 0x20 || cp === 0x7f) {
            out += '\\x' + hex(cp, 2);
        } else if (cp < 0x7f || ch === ' ' || !NOT_PRINTABLE.test(ch)) {
            out += ch;
        } else if (cp <= 0xff) {
            out += '\\x' + hex(cp, 2);
        } else if (cp <= 0xffff) {
            out += '\\u' + hex(cp, 4);
        } else {
            out += '\\U' + hex(cp, 8);
        }
    }
    return out + quote;
}

var DECIMAL_DIGIT = /\p{Nd}/u;

// The value of a decimal digit (category Nd): Unicode encodes them in runs of whole
// 0..9 sets, so the digit is the distance from the start of its run, modulo 10.
function digitValue(cp) {
    var start = cp;
    while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) {
        start -= 1;
    }
    return (cp - start) % 10;
}

var FLOAT_SYNTAX = /^[+-]?(?:(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?|inf|infinity|nan)$/i;

// float(text): its value, or null where Python raises ValueError. As CPython, non-ASCII
// decimal digits count as digits and non-ASCII whitespace as a blank; then blanks
// around the number are dropped.
function pyFloat(text) {
    var ascii = text;
    if (/[^\x00-\x7e]/.test(text)) {
        ascii = '';
        for (var ch of text) {
            var cp = ch.codePointAt(0);
            if (cp < 0x7f) {
                ascii += ch;
            } else if (PY_UNICODE_SPACE.test(ch)) {
                ascii += ' ';
            } else if (DECIMAL_DIGIT.test(ch)) {
                ascii += String(digitValue(cp));
            } else {
                ascii += '?';
            }
        }
    }
    ascii = ascii.replace(/^[\t\n\x0b\x0c\r ]+|[\t\n\x0b\x0c\r ]+$/g, '');
    if (!FLOAT_SYNTAX.test(ascii)) {
        return null;
    }
    var bare = ascii.replace(/_/g, '').toLowerCase();
    var sign = bare[0] === '-' ? -1 : 1;
    var unsigned = bare.replace(/^[+-]/, '');
    if (unsigned === 'nan') {
        return NaN;
    }
    if (unsigned === 'inf' || unsigned === 'infinity') {
        return sign * Infinity;
    }
    return Number(bare);    // correctly rounded, as CPython's strtod
}

function number(name, text) {
    var value = pyFloat(text);
    if (value === null) {
        throw new RecordError(name + ' is not a number: ' + pyRepr(text));
    }
    if (!Number.isFinite(value)) {
        throw new RecordError(name + ' is not finite: ' + pyRepr(text));
    }
    return value;
}

// -- record.py ---------------------------------------------------------------------------

var DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y) {
    return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
function daysFromCivil(y, m, d) {
    y -= m <= 2 ? 1 : 0;
    var era = Math.floor(y / 400);
    var yoe = y - era * 400;
    var doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    var doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468;
}

// date_to_ms: yyyyMMddHHmmss (UTC) -> epoch ms; the reasons are datetime()'s.
function dateToMs(date) {
    if (!/^[0-9]{14}$/.test(date)) {
        throw new RecordError('date must be 14 digits yyyyMMddHHmmss, got ' + pyRepr(date));
    }
    var n = function(a, b) { return parseInt(date.slice(a, b), 10); };
    var y = n(0, 4), mo = n(4, 6), d = n(6, 8), h = n(8, 10), mi = n(10, 12), s = n(12, 14);
    var problem = null;
    if (y < 1) {
        problem = 'year ' + y + ' is out of range';
    } else if (mo < 1 || mo > 12) {
        problem = 'month must be in 1..12';
    } else if (d < 1 || d > (mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1])) {
        problem = 'day is out of range for month';
    } else if (h > 23) {
        problem = 'hour must be in 0..23';
    } else if (mi > 59) {
        problem = 'minute must be in 0..59';
    } else if (s > 59) {
        problem = 'second must be in 0..59';
    }
    if (problem !== null) {
        throw new RecordError('date ' + pyRepr(date) + ' is not a real date/time: ' + problem);
    }
    return ((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000;
}

function parseLine(line) {
    var parts = pyRstripCrLf(line).split(',');
    if (parts.length !== 8) {
        throw new RecordError('expected 8 comma-separated fields, got ' + parts.length);
    }
    var date = pyStrip(parts[0]), car = pyStrip(parts[1]), area = pyStrip(parts[7]);
    var eventTimeMs = dateToMs(date);
    if (!car) {
        throw new RecordError('car_number is empty');
    }
    var texts = parts.slice(2, 7);
    // The first field that is not a number, or not finite, names the reason.
    var values = texts.map(function(t, i) { return number(NUMBER_NAMES[i], t); });
    var light = values[3], speed = values[4];
    if (speed < 0) {
        throw new RecordError('speed is negative: ' + pyRepr(pyStrip(texts[4])));
    }
    if (light !== 0 && light !== 1 && light !== 2) {
        throw new RecordError('direct_light must be 0, 1 or 2, got ' + pyRepr(pyStrip(texts[3])));
    }
    return {date: date, car: car, pedal: values[0], brake: values[1], steer: values[2],
            light: light === 0 ? 0 : light, speed: speed, area: area, eventTimeMs: eventTimeMs};
}

function codePoints(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
        var c = s.charCodeAt(i);
        if (c < 0xdc00 || c > 0xdfff || i === 0 || s.charCodeAt(i - 1) < 0xd800 || s.charCodeAt(i - 1) > 0xdbff) {
            n += 1;
        }
    }
    return n;
}

function thousands(n) {
    return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

// ParseBolt.execute: [stream, values] for the input values (line, origin, error).
function execute(values) {
    var line = values[0], origin = values[1], error = values[2];
    if (error !== null && error !== undefined) {
        return [ERROR_STREAM, [line, error, origin]];
    }
    if (line === null || line === undefined) {
        return [ERROR_STREAM, ['', 'empty message (no value)', origin]];
    }
    // A str's length in Python counts code points; a JS string's, UTF-16 units.
    var length = line.length > MAX_RECORD_BYTES ? codePoints(line) : line.length;
    if (length > MAX_RECORD_BYTES) {
        return [ERROR_STREAM, [Array.from(line).slice(0, MAX_RECORD_BYTES).join(''),
            'record is ' + thousands(length) + ' bytes; a record is at most ' + thousands(MAX_RECORD_BYTES) +
            ' (stored truncated)', origin]];
    }
    var r;
    try {
        r = parseLine(line);
    } catch (e) {
        if (e instanceof RecordError) {
            return [ERROR_STREAM, [line, e.reason, origin]];
        }
        throw e;
    }
    var rowKey = r.date.split('').reverse().join('') + '-' + r.car;
    return ['default', [rowKey, r.date, r.car, new PyFloat(r.pedal), new PyFloat(r.brake),
        new PyFloat(r.steer), r.light, new PyFloat(r.speed), r.area, r.eventTimeMs]];
}

module.exports = {execute: execute, toJson: toJson};

if (require.main === module) {
    var storm = require('./storm');
    var BasicBolt = storm.BasicBolt;

    var ParseBolt = function() {
        BasicBolt.call(this);
    };
    ParseBolt.prototype = Object.create(BasicBolt.prototype);
    ParseBolt.prototype.constructor = ParseBolt;

    // storm.js writes every message with JSON.stringify; the same framing, with the
    // float fields written as floats.
    ParseBolt.prototype.sendMsgToParent = function(msg) {
        process.stdout.write(toJson(msg) + this.separator);
    };

    ParseBolt.prototype.process = function(tup, done) {
        var out = execute(tup.values);
        var stream = out[0] === 'default' ? undefined : out[0];
        this.emit({tuple: out[1], stream: stream, anchorTupleId: tup.id}, function(taskIds) {});
        done();
    };

    new ParseBolt().run();
}
