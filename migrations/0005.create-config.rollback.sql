DROP TABLE config;
