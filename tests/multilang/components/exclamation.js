// storm-starter's exclamation bolt, written against Storm's own storm.js.
var storm = require('./storm');
var BasicBolt = storm.BasicBolt;

function ExclamationBolt() {
    BasicBolt.call(this);
}
ExclamationBolt.prototype = Object.create(BasicBolt.prototype);
ExclamationBolt.prototype.constructor = ExclamationBolt;

ExclamationBolt.prototype.process = function(tup, done) {
    this.emit({tuple: [tup.values[0] + '!!!'], anchorTupleId: tup.id}, function(taskIds) {});
    done();
};

new ExclamationBolt().run();
